"""The database handle and the signed-in user, as the pages see them."""

from __future__ import annotations

import functools

import streamlit as st

from labelgate.auth import can_open
from labelgate.store import Database
from labelgate.store.sessions import SESSION_HOURS, create_session, revoke_session, session_user
from labelgate.store.users import User, get_active_user
from labelgate.ui.server import COOKIE_NAME, SESSION_PATH, issue_ticket

USER_KEY = "auth_user"  # (name, role) of the signed-in user
TOKEN_KEY = "auth_token"  # this browser's session token (see labelgate.store.sessions); never sent to it
APP_LINGER = 120.0  # seconds the app keeps the database file open after its last use (see get_db)
COOKIE_ACTION_KEY = "auth_cookie_action"  # ("set", ticket) after a login, ("clear", "") after a logout


@st.cache_resource
def get_db() -> Database:
    """One Database handle per process (it opens the file only inside each unit of work)."""
    # The file stays open between clicks while no other process waits for it (a command that does gets it
    # as soon as the units of work running end, labelgate.store.db). Each open starts with DuckDB's cache
    # empty: with a 1 s linger an expert's Enter after reading an item reopened the file, and storing the
    # item and drawing the next took ~290 ms instead of ~160 ms (load ~8, six criteria).
    return Database(linger=APP_LINGER)


def current_user() -> User | None:
    pair = st.session_state.get(USER_KEY)
    return User(*pair) if pair else None


def sign_in(user: User, *, remember: bool = True) -> None:
    """Sign `user` in for this browser session and, with `remember`, for reloads and new tabs."""
    st.session_state[USER_KEY] = (user.name, user.role)
    if remember:
        token = create_session(get_db(), user)
        st.session_state[TOKEN_KEY] = token
        st.session_state[COOKIE_ACTION_KEY] = ("set", issue_ticket(token, int(SESSION_HOURS * 3600)))


def sign_out() -> None:
    revoke_session(get_db(), st.session_state.get(TOKEN_KEY) or _cookie_token())
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    st.session_state[COOKIE_ACTION_KEY] = ("clear", "")


def _cookie_token() -> str | None:
    try:
        value = st.context.cookies.get(COOKIE_NAME)
    except Exception:  # noqa: BLE001 - no browser context (bare mode)
        return None
    return value if isinstance(value, str) else None  # AppTest hands back a stand-in object


def resume_session() -> User | None:
    """The user signed in to this session, else the one behind a valid session cookie.

    Checked against the database on every full run: a disabled account, a changed role or a
    session logged out in another tab takes effect at the next click.
    """
    db = get_db()
    pair = st.session_state.get(USER_KEY)
    if pair:
        token = st.session_state.get(TOKEN_KEY)
        user = session_user(db, token) if token else get_active_user(db, pair[0])
        if user is None or user.name != pair[0]:
            end_session_state()
            return None
        st.session_state[USER_KEY] = (user.name, user.role)
        return user
    token = _cookie_token()
    user = session_user(db, token)
    if user is not None:
        st.session_state[USER_KEY] = (user.name, user.role)
        st.session_state[TOKEN_KEY] = token
    return user


def still_signed_in() -> bool:
    """For callbacks inside fragments (which do not rerun app.py): is the account still active?"""
    pair = st.session_state.get(USER_KEY)
    if pair and get_active_user(get_db(), pair[0]) is None:
        end_session_state()
        return False
    return bool(pair)


def end_session_state() -> None:
    for key in (USER_KEY, TOKEN_KEY):
        st.session_state.pop(key, None)


def sync_cookie() -> None:
    """Have the browser set or clear the session cookie after a login or logout.

    The page never holds the token: it POSTs a one-time ticket to the app's own route
    (labelgate.ui.server), whose answer sets the cookie HttpOnly, out of reach of page scripts.
    Logging out revokes the token in the database, so a copied cookie is worthless afterwards.
    """
    # The slot is there on every run: a script element only in the run after a login shifted
    # every element after it in the next run, and the browser remounted the inputs, dropping
    # what was being typed (the Users page's password, in most tries right after a login).
    slot = st.empty()
    action = st.session_state.pop(COOKIE_ACTION_KEY, None)
    if not action:
        return
    kind, ticket = action
    method = "POST" if kind == "set" else "DELETE"
    slot.html(f"<script>fetch(new URL('{SESSION_PATH}', document.baseURI), {{method: '{method}', "
              f"body: '{ticket}', credentials: 'same-origin', cache: 'no-store'}});</script>",
              unsafe_allow_javascript=True, width="content")


def require_page(page: str) -> User:
    """The signed-in user, if their role may open `page`; otherwise stop the script.

    app.py registers only the pages a role may open, so this is a second line of defence for
    a page run directly.
    """
    user = current_user()
    if user is None:
        st.warning("You are signed out (the account was disabled or logged out elsewhere). Reload to log in.")
        st.stop()
    if not can_open(user.role, page):
        st.error("You do not have access to this page.")
        st.stop()
    return user


def action(page: str):
    """Decorator for a page's callbacks: run only if the user, looked up again in the database now,
    may still open `page`.

    Streamlit runs a callback before the script of the click's run, so the user the page knew
    when it drew the button may since have been disabled, logged out or given another role; the
    click then does nothing, and the run that follows shows what the account may see now.
    """
    def wrap(callback):
        @functools.wraps(callback)
        def guarded(*args, **kwargs):
            user = resume_session()
            if user is None or not can_open(user.role, page):
                return None
            return callback(*args, **kwargs)
        return guarded
    return wrap
