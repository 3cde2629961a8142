"""User accounts."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import pandas as pd

from labelgate.auth import ROLES, hash_password, verify_password
from labelgate.store.db import Database, fetch_one


@dataclass(frozen=True)
class User:
    name: str
    role: str
    active: bool = True


@functools.cache
def _dummy_hash() -> str:
    return hash_password("not-a-real-password")


def add_user(db: Database, name: str, role: str, password: str, *, created_by: str | None = None) -> User:
    name = name.strip()
    if not name or any(c.isspace() for c in name):
        raise ValueError("a user name must be non-empty and contain no spaces")
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
    pw_hash = hash_password(password)
    with db.transaction() as con:
        if fetch_one(con, "SELECT 1 FROM users WHERE name = ?", [name]):
            raise ValueError(f"a user named {name!r} already exists")
        con.execute(
            "INSERT INTO users (name, role, password_hash, created_by) VALUES (?, ?, ?, ?)",
            [name, role, pw_hash, created_by],
        )
        _audit(con, name, "created", None, role, created_by)
    return User(name, role)


def _audit(con, name: str, field: str, old, new, changed_by: str | None) -> None:
    con.execute("INSERT INTO user_changes (user_name, field, old_value, new_value, changed_by) VALUES (?, ?, ?, ?, ?)",
                [name, field, None if old is None else str(old), None if new is None else str(new), changed_by])


def _current(con, name: str) -> tuple[str, bool]:
    row = fetch_one(con, "SELECT role, active FROM users WHERE name = ?", [name])
    if row is None:
        raise LookupError(f"no user named {name!r}")
    return row


def _keep_an_admin(con, name: str) -> None:
    """Refuse a change that would leave no active admin to manage accounts in the app."""
    (others,) = fetch_one(con, "SELECT count(*) FROM users WHERE role = 'admin' AND active AND name <> ?", [name])
    if others == 0:
        raise ValueError(f"{name} is the last active admin: make another user admin first")


def authenticate(db: Database, name: str, password: str) -> User | None:
    """The user if the name and password match an active account, else None."""
    with db.connect() as con:
        row = fetch_one(
            con, "SELECT name, role, password_hash, active FROM users WHERE name = ?", [name.strip()]
        )
    if row is None or not row[3]:
        # One scrypt check, as for a known name, so that timing does not reveal which names exist.
        verify_password(password, _dummy_hash())
        return None
    return User(row[0], row[1]) if verify_password(password, row[2]) else None


def get_active_user(db: Database, name: str) -> User | None:
    """The account if it exists and may log in, with its current role; else None."""
    with db.connect() as con:
        row = fetch_one(con, "SELECT name, role FROM users WHERE name = ? AND active", [name])
    return User(*row) if row else None


def list_users(db: Database) -> list[User]:
    with db.connect() as con:
        rows = con.execute("SELECT name, role, active FROM users ORDER BY name").fetchall()
    return [User(*r) for r in rows]


def set_user_active(db: Database, name: str, active: bool, *, changed_by: str | None = None) -> bool:
    """Enable or disable a login (audited); False when it already was so."""
    with db.transaction() as con:
        role, was = _current(con, name)
        if was == active:
            return False
        if not active and role == "admin":
            _keep_an_admin(con, name)
        con.execute("UPDATE users SET active = ? WHERE name = ?", [active, name])
        _audit(con, name, "active", was, active, changed_by)
    return True


def set_user_role(db: Database, name: str, role: str, *, changed_by: str | None = None) -> bool:
    """Give a user another role (audited with the old and the new); False when it is theirs already.

    It takes effect at the user's next click (the app checks the role on every run).
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
    with db.transaction() as con:
        old, active = _current(con, name)
        if old == role:
            return False
        if old == "admin" and active:
            _keep_an_admin(con, name)
        con.execute("UPDATE users SET role = ? WHERE name = ?", [role, name])
        _audit(con, name, "role", old, role, changed_by)
    return True


def set_password(db: Database, name: str, password: str, *, changed_by: str | None = None) -> None:
    pw_hash = hash_password(password)
    with db.transaction() as con:
        _current(con, name)
        con.execute("UPDATE users SET password_hash = ? WHERE name = ?", [pw_hash, name])
        _audit(con, name, "password", None, None, changed_by)


def user_changes(db: Database) -> pd.DataFrame:
    """Every change to an account, newest first: changed_at, changed_by, user_name, field, old_value, new_value
    (an expertise change has field 'expertise' and the tags before and after, comma-separated)."""
    with db.connect() as con:
        return con.execute(
            "SELECT changed_at, changed_by, user_name, field, old_value, new_value FROM ("
            " SELECT changed_at, changed_by, user_name, field, old_value, new_value, change_id, 0 AS part"
            " FROM user_changes"
            " UNION ALL"
            " SELECT changed_at, changed_by, user_name, 'expertise',"
            "  array_to_string(lag(tags) OVER (PARTITION BY user_name ORDER BY change_id), ', '),"
            "  array_to_string(tags, ', '), change_id, 1 FROM user_expertise)"
            " ORDER BY changed_at DESC, part DESC, change_id DESC").df()


_TAG = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


def parse_tags(tags) -> list[str]:
    """Expertise tags from a comma-separated text or a list: trimmed, lower case, sorted, no repeats.
    Raises ValueError naming the tag that is not a word of letters, digits, - or _ (at most 40)."""
    parts = tags.split(",") if isinstance(tags, str) else list(tags or [])
    out = set()
    for raw in parts:
        tag = str(raw).strip().lower()
        if not tag:
            continue
        if not _TAG.fullmatch(tag):
            raise ValueError(f"expertise tags: {str(raw).strip()!r} is not a tag (letters, digits, - and _ only, "
                             "starting with a letter or digit, at most 40 characters)")
        out.add(tag)
    return sorted(out)


def set_user_tags(db: Database, name: str, tags, *, changed_by: str | None = None) -> bool:
    """Set a user's expertise tags (see `parse_tags`; empty clears them); recorded with who changed them.
    False when they already were these. Bad tags or an unknown user change nothing."""
    clean = parse_tags(tags)
    with db.transaction() as con:
        _current(con, name)
        row = fetch_one(con, "SELECT tags FROM user_expertise WHERE user_name = ? ORDER BY change_id DESC LIMIT 1",
                        [name])
        if sorted(row[0] if row else []) == clean:
            return False
        con.execute("INSERT INTO user_expertise (user_name, tags, changed_by) VALUES (?, ?, ?)",
                    [name, clean, changed_by])
    return True


def user_tags(db: Database) -> dict[str, list[str]]:
    """Every user's current expertise tags (users without tags are absent)."""
    with db.connect() as con:
        rows = con.execute("SELECT user_name, tags FROM user_expertise"
                           " QUALIFY row_number() OVER (PARTITION BY user_name ORDER BY change_id DESC) = 1").fetchall()
    return {name: list(tags) for name, tags in rows if tags}


def has_users(db: Database) -> bool:
    with db.connect() as con:
        return fetch_one(con, "SELECT count(*) FROM users")[0] > 0
