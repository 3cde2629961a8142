"""The Users page as an admin uses it."""

from __future__ import annotations

from labelgate.store.users import authenticate


def click(at, label: str):
    at.button[[b.label for b in at.button].index(label)].click().run()
    assert not at.exception
    return at


def test_admin_adds_a_user_who_can_then_log_in(app_for, demo_db):
    at = app_for("admin")
    assert at.title[0].value == "Users"
    at.text_input(key="admin_new_name").input("dr-ana")
    at.selectbox(key="admin_new_role").select("lead")
    at.text_input(key="admin_new_password").input("correct horse battery")
    click(at, "Add user")
    assert "Created lead dr-ana." in [s.value for s in at.success]
    assert authenticate(demo_db, "dr-ana", "correct horse battery").role == "lead"
    assert at.text_input(key="admin_new_password").value == ""  # not left on screen


def test_a_short_password_is_refused_and_nothing_is_created(app_for, demo_db):
    at = app_for("admin")
    at.text_input(key="admin_new_name").input("bob")
    at.text_input(key="admin_new_password").input("short")
    click(at, "Add user")
    assert "at least 8 characters" in at.error[0].value
    with demo_db.connect() as con:
        assert con.execute("SELECT count(*) FROM users WHERE name = 'bob'").fetchall()[0][0] == 0


def test_a_disabled_user_can_no_longer_log_in(app_for, demo_db):
    at = app_for("admin")
    at.selectbox(key="admin_toggle_user").select("expert2").run()
    click(at, "Disable")
    assert authenticate(demo_db, "expert2", "expert-demo") is None
    assert at.button[[b.label for b in at.button].index("Enable")]  # the same user can be re-enabled
