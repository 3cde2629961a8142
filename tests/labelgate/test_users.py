"""User accounts: roles change, logins are disabled, and every change is audited."""

from __future__ import annotations

import pytest

from labelgate.store.users import add_user, get_active_user, set_user_active, set_user_role, user_changes


def test_role_changes_and_logins_are_audited_and_the_last_admin_stays(db):
    add_user(db, "root", "admin", "password-1", created_by="setup")
    add_user(db, "ann", "expert", "password-1", created_by="root")
    assert set_user_role(db, "ann", "lead", changed_by="root") is True
    assert get_active_user(db, "ann").role == "lead"
    assert set_user_role(db, "ann", "lead", changed_by="root") is False  # no change, no row
    assert set_user_active(db, "ann", False, changed_by="root") is True
    with pytest.raises(ValueError, match="root is the last active admin"):
        set_user_role(db, "root", "lead", changed_by="root")
    with pytest.raises(ValueError, match="root is the last active admin"):
        set_user_active(db, "root", False, changed_by="root")
    with pytest.raises(ValueError, match="role must be one of"):
        set_user_role(db, "ann", "boss", changed_by="root")
    with pytest.raises(LookupError, match="no user named 'bob'"):
        set_user_role(db, "bob", "lead", changed_by="root")
    log = user_changes(db)
    rows = [tuple(r) for r in log.fillna("")[["changed_by", "user_name", "field", "old_value", "new_value"]].itertuples(
        index=False)]
    assert rows == [("root", "ann", "active", "True", "False"), ("root", "ann", "role", "expert", "lead"),
                    ("root", "ann", "created", "", "expert"), ("setup", "root", "created", "", "admin")]
    assert log["changed_at"].notna().all()
