"""AppTest through app.py, with the database pointed at a per-test copy of the demo."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import streamlit as st
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from labelgate.ui.session import USER_KEY

APP = str(Path(__file__).resolve().parents[2] / "app.py")
ROLE_USERS = {"expert": "expert", "engineer": "engineer", "lead": "lead", "admin": "admin"}


class _Errors(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def no_app_errors():
    """The app shows an uncaught exception as an error id (labelgate/ui/errors.py), so
    `at.exception` stays empty: any error the app logged fails the test, with its traceback."""
    handler = _Errors()
    logger = logging.getLogger("labelgate.app")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    unexpected = [r for r in handler.records if not getattr(handler, "expected", False)]
    if unexpected:
        pytest.fail("the app logged an error:\n" + "\n".join(logging.Formatter().format(r) for r in unexpected))


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


@pytest.fixture
def downloads(monkeypatch):
    """file name -> bytes of every st.download_button the page renders (AppTest keeps no media files)."""
    files: dict[str, bytes] = {}
    add = MediaFileManager.add

    def spy(self, path_or_data, mimetype, coordinates, file_name=None, is_for_static_download=False):
        if is_for_static_download:
            files[file_name] = path_or_data
        return add(self, path_or_data, mimetype, coordinates, file_name, is_for_static_download)

    monkeypatch.setattr(MediaFileManager, "add", spy)
    return files
