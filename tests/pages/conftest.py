"""AppTest through app.py, with the database pointed at a per-test copy of the demo."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from labelgate.ui.session import USER_KEY

APP = str(Path(__file__).resolve().parents[2] / "app.py")
ROLE_USERS = {"expert": "expert", "engineer": "engineer", "lead": "lead", "admin": "admin"}


@pytest.fixture
def app_for(demo_db, monkeypatch):
    """app_for(role) -> an AppTest signed in as that role's demo user, already run once."""
    monkeypatch.setenv("LABELGATE_DB", str(demo_db.path))
    st.cache_resource.clear()
    st.cache_data.clear()

    def make(role: str | None, *, page: str | None = None, timeout: float = 30) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=timeout)
        if role is not None:
            at.session_state[USER_KEY] = (ROLE_USERS[role], role)
        at.run()
        if page is not None:
            at.switch_page(page).run()
        return at

    yield make
    st.cache_resource.clear()
    st.cache_data.clear()
