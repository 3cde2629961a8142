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


def test_the_admin_changes_a_role_and_the_change_is_listed_with_who_and_what(app_for, demo_db):
    at = app_for("admin")
    at.selectbox(key="admin_role_user").select("expert2").run()
    at.selectbox(key="admin_role_expert2").select("lead")
    click(at, "Change role")
    assert "expert2 is now lead; it takes effect at their next click." in [s.value for s in at.success]
    assert authenticate(demo_db, "expert2", "expert-demo").role == "lead"
    changes = at.dataframe[-1].value
    assert list(changes.columns) == ["when", "by", "user", "change", "from", "to"]
    assert changes.iloc[0][["by", "user", "change", "from", "to"]].tolist() == ["admin", "expert2", "role",
                                                                               "expert", "lead"]
    # the last admin cannot give up the role: the page says why and nothing changes
    at.selectbox(key="admin_role_user").select("admin").run()
    at.selectbox(key="admin_role_admin").select("lead")
    click(at, "Change role")
    assert "admin is the last active admin" in at.error[0].value
    assert authenticate(demo_db, "admin", "admin-demo").role == "admin"


def test_the_admin_sets_expertise_tags_and_bad_tags_change_nothing(app_for, demo_db):
    from labelgate.store.users import user_tags

    at = app_for("admin")
    at.selectbox(key="admin_tags_user").select("expert2").run()
    at.text_input(key="admin_tags_expert2").input("Legal, code")
    click(at, "Save tags")
    assert "expert2's expertise tags are now: code, legal." in [s.value for s in at.success]
    assert user_tags(demo_db) == {"expert2": ["code", "legal"]}
    assert at.dataframe[0].value.set_index("user").loc["expert2", "expertise tags"] == "code, legal"
    at.text_input(key="admin_tags_expert2").input("code, medical!")
    click(at, "Save tags")
    assert "expertise tags: 'medical!' is not a tag" in at.error[0].value
    assert user_tags(demo_db) == {"expert2": ["code", "legal"]}


def test_the_disable_picker_preselects_nobody_and_disable_waits_for_a_choice(app_for, demo_db):
    # the other pickers show a user at once; disabling a login must be chosen, never the list's first name
    at = app_for("admin")
    picker = at.selectbox(key="admin_toggle_user")
    assert picker.value is None and picker.placeholder == "Choose a user"
    (button,) = [b for b in at.button if b.label == "Disable"]
    assert button.disabled
    with demo_db.connect() as con:
        assert con.execute("SELECT count(*) FROM users WHERE NOT active").fetchone() == (0,)
    picker.select("engineer").run()
    (button,) = [b for b in at.button if b.label == "Disable"]
    assert not button.disabled
