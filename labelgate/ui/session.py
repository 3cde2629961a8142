"""The database handle and the signed-in user, as the pages see them."""

from __future__ import annotations

import streamlit as st

from labelgate.auth import can_open
from labelgate.store import Database
from labelgate.store.users import User

USER_KEY = "auth_user"  # (name, role) of the signed-in user


@st.cache_resource
def get_db() -> Database:
    """One Database handle per process (it opens the file only inside each unit of work)."""
    return Database()


def current_user() -> User | None:
    pair = st.session_state.get(USER_KEY)
    return User(*pair) if pair else None


def sign_in(user: User) -> None:
    st.session_state[USER_KEY] = (user.name, user.role)


def sign_out() -> None:
    for key in list(st.session_state.keys()):
        del st.session_state[key]


def require_page(page: str) -> User:
    """The signed-in user, if their role may open `page`; otherwise stop the script.

    app.py registers only the pages a role may open, so this is a second line of defence for
    a page run directly.
    """
    user = current_user()
    if user is None or not can_open(user.role, page):
        st.error("You do not have access to this page.")
        st.stop()
    return user
