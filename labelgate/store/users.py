"""User accounts."""

from __future__ import annotations

import functools
from dataclasses import dataclass

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
    return User(name, role)


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


def set_user_active(db: Database, name: str, active: bool) -> None:
    with db.transaction() as con:
        if not fetch_one(con, "SELECT 1 FROM users WHERE name = ?", [name]):
            raise LookupError(f"no user named {name!r}")
        con.execute("UPDATE users SET active = ? WHERE name = ?", [active, name])


def set_password(db: Database, name: str, password: str) -> None:
    pw_hash = hash_password(password)
    with db.transaction() as con:
        if not fetch_one(con, "SELECT 1 FROM users WHERE name = ?", [name]):
            raise LookupError(f"no user named {name!r}")
        con.execute("UPDATE users SET password_hash = ? WHERE name = ?", [pw_hash, name])


def has_users(db: Database) -> bool:
    with db.connect() as con:
        return fetch_one(con, "SELECT count(*) FROM users")[0] > 0
