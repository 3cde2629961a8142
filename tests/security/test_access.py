"""Every page and every action checks the role on the server: by URL, with a crafted session
state, and at the click itself (an account disabled or demoted since the page was drawn)."""

from __future__ import annotations

import pytest

from labelgate.store.users import add_user, list_users, set_user_active
from labelgate.ui.session import TOKEN_KEY, USER_KEY

PAGE_TITLES = {"label": "Label", "calibrate": "Calibrate", "compare": "Compare", "review": "Review",
               "labelers": "Labelers", "monitor": "Monitor", "gate": "Gate", "data": "Data", "admin": "Users"}
ALLOWED = {"expert": {"label"}, "engineer": set(PAGE_TITLES) - {"label", "admin"},
           "lead": set(PAGE_TITLES) - {"label", "admin"}, "admin": {"admin"}}


def titles(at) -> list[str]:
    return [t.value for t in at.title]


def shows_login(at) -> bool:
    return any(b.label == "Log in" for b in at.button) and titles(at) == ["labelgate"]


@pytest.mark.parametrize("role", list(ALLOWED))
def test_no_role_reaches_a_page_outside_its_own(app_for, role):
    at = app_for(role)
    for page, title in PAGE_TITLES.items():
        if page in ALLOWED[role]:
            at.switch_page(f"pages/{page}.py").run()
            assert title in titles(at) and not at.exception
            continue
        try:
            at.switch_page(f"pages/{page}.py").run()
        except ValueError as exc:  # its file is not registered for this role at all
            assert "Could not find a navigation page" in str(exc)
        assert title not in titles(at), (role, page)


def test_a_crafted_session_claiming_another_role_gets_the_role_the_database_holds(app_for):
    at = app_for(None)
    at.session_state[USER_KEY] = ("expert", "lead")  # the expert's name, a lead's role
    at.run()
    assert titles(at)[:1] == ["Label"]
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/gate.py")
    assert at.session_state[USER_KEY] == ("expert", "expert")


@pytest.mark.parametrize("crafted", [{USER_KEY: ("mallory", "admin")},
                                     {USER_KEY: ("lead", "lead"), TOKEN_KEY: "forged-token"}])
def test_a_crafted_session_for_an_unknown_user_or_a_forged_token_sees_the_login(app_for, crafted):
    at = app_for(None)
    for key, value in crafted.items():
        at.session_state[key] = value
    at.run()
    assert shows_login(at)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/admin.py")


def test_a_click_after_the_account_was_disabled_does_nothing(app_for, demo_db):
    add_user(demo_db, "admin2", "admin", "admin2-password")
    at = app_for(None)
    at.session_state[USER_KEY] = ("admin2", "admin")
    at.run()
    at.switch_page("pages/admin.py").run()
    assert "Users" in titles(at)
    at.text_input(key="admin_new_name").set_value("intruder")
    at.text_input(key="admin_new_password").set_value("intruder-password")
    set_user_active(demo_db, "admin2", False)  # meanwhile, another admin disables the account
    next(b for b in at.button if b.label == "Add user").click().run()
    assert "intruder" not in {u.name for u in list_users(demo_db)}
    assert "Users" not in titles(at)  # and the run after the click no longer shows the page


def test_an_approval_clicked_by_a_lead_disabled_since_is_not_recorded(app_for, demo_db):
    at = app_for("lead", page="pages/gate.py")
    approve = [b for b in at.button if b.label == "Approve"]
    assert approve
    set_user_active(demo_db, "lead", False)
    approve[0].click().run()
    with demo_db.connect() as con:
        assert con.execute("SELECT count(*) FROM gate_events WHERE kind IN ('approve', 'refuse')"
                           ).fetchall()[0][0] == 0
    assert "Gate" not in titles(at)
