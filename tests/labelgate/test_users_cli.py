"""labelgate users role: a role change from the command line, audited under the operator."""

from __future__ import annotations

import getpass

from labelgate.cli import main as cli
from labelgate.store.users import add_user, get_active_user, user_changes


def test_users_role_changes_the_role_and_the_audit_names_the_operator(db, capsys):
    add_user(db, "ann", "expert", "password-1")
    assert cli(["--db", str(db.path), "users", "role", "ann", "engineer"]) == 0
    assert "ann is now engineer" in capsys.readouterr().out
    assert get_active_user(db, "ann").role == "engineer"
    change = user_changes(db).iloc[0]
    assert (change["changed_by"], change["field"], change["old_value"], change["new_value"]) == (
        f"cli:{getpass.getuser()}", "role", "expert", "engineer")
    assert cli(["--db", str(db.path), "users", "role", "nobody", "lead"]) == 2
    assert "no user named 'nobody'" in capsys.readouterr().err
