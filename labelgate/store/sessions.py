"""Sign-in sessions behind the browser cookie: created at login, looked up on a reload, revoked at logout."""

from __future__ import annotations

import hashlib
import secrets

from labelgate.store.db import Database, fetch_one
from labelgate.store.users import User

SESSION_HOURS = 12


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_session(db: Database, user: User, *, hours: float = SESSION_HOURS) -> str:
    """A new random token for `user`, valid for `hours`; only its hash is stored.

    Sessions that have expired or were logged out are deleted here: they can never be used again.
    """
    token = secrets.token_urlsafe(32)
    with db.transaction() as con:
        con.execute("DELETE FROM sessions WHERE expires_at <= now() OR revoked_at IS NOT NULL")
        con.execute("INSERT INTO sessions (token_sha256, user_name, expires_at)"
                    " VALUES (?, ?, now() + to_microseconds(CAST(? * 3600e6 AS BIGINT)))",
                    [_digest(token), user.name, hours])
    return token


def session_user(db: Database, token: str | None) -> User | None:
    """The active user behind a token that is known, unexpired and not revoked; else None."""
    if not token:
        return None
    with db.connect() as con:
        row = fetch_one(con, "SELECT u.name, u.role FROM sessions s JOIN users u ON u.name = s.user_name"
                             " WHERE s.token_sha256 = ? AND s.revoked_at IS NULL AND s.expires_at > now()"
                             " AND u.active", [_digest(token)])
    return User(*row) if row else None


def revoke_session(db: Database, token: str | None) -> None:
    if token:
        with db.transaction() as con:
            con.execute("UPDATE sessions SET revoked_at = now() WHERE token_sha256 = ? AND revoked_at IS NULL",
                        [_digest(token)])
