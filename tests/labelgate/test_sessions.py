"""Sign-in sessions behind the browser cookie."""

from __future__ import annotations

from labelgate.store.sessions import create_session, revoke_session, session_user
from labelgate.store.users import add_user, set_user_active


def test_a_session_token_signs_in_until_revoked_and_only_its_hash_is_stored(db):
    user = add_user(db, "ann", "expert", "password-1")
    token = create_session(db, user)
    assert session_user(db, token) == user
    assert session_user(db, token + "x") is None and session_user(db, None) is None
    assert token.encode() not in db.path.read_bytes()
    revoke_session(db, token)
    assert session_user(db, token) is None


def test_expired_sessions_and_disabled_users_are_refused(db):
    user = add_user(db, "ann", "expert", "password-1")
    assert session_user(db, create_session(db, user, hours=-1)) is None
    live = create_session(db, user)
    set_user_active(db, "ann", False)
    assert session_user(db, live) is None
