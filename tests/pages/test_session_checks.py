"""Signed-in sessions follow the accounts table: disabling, role changes and logouts elsewhere
take effect at the next click."""

from __future__ import annotations

from labelgate.store.sessions import create_session, revoke_session
from labelgate.store.users import User, set_user_active
from labelgate.ui.session import TOKEN_KEY
from tests.pages.test_label_page import shown_item_id


def test_a_disabled_expert_cannot_store_another_label(app_for, demo_db):
    at = app_for("expert", page="pages/label.py")
    item_id = shown_item_id(at)
    set_user_active(demo_db, "expert", False)  # the admin disables the account meanwhile
    at.button(key=f"label_1_{item_id}").click().run()
    assert "You are signed out" in at.warning[0].value
    with demo_db.connect() as con:
        assert con.execute("SELECT count(*) FROM human_labels WHERE rater = 'expert'").fetchall()[0][0] == 0


def session_with_token(app_for, token):
    """A browser session signed in as the lead with `token` (as after a login), run once."""
    at = app_for(None)
    at.session_state["auth_user"] = ("lead", "lead")
    at.session_state[TOKEN_KEY] = token
    at.run()
    return at


def test_a_session_logged_out_in_another_tab_ends_here_too(app_for, demo_db):
    token = create_session(demo_db, User("lead", "lead"))
    assert session_with_token(app_for, token).title[0].value == "Calibrate"
    revoke_session(demo_db, token)  # "Log out" in the other tab
    at = session_with_token(app_for, token)  # this tab's next run
    assert at.title[0].value == "labelgate" and at.text_input(key="login_name")
    assert "auth_user" not in at.session_state
