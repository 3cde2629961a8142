"""Users, roles, and password hashes (salted scrypt; the password itself is never stored)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

ROLES = ("expert", "engineer", "lead", "admin")

# Which pages each role may open. A page not listed for a role is neither in its navigation
# nor reachable by URL (app.py registers only these pages with st.navigation).
ROLE_PAGES: dict[str, tuple[str, ...]] = {
    "expert": ("label",),
    "engineer": ("calibrate", "compare", "review", "labelers", "monitor", "student", "gate", "data"),
    "lead": ("calibrate", "compare", "review", "labelers", "monitor", "student", "gate", "data"),
    "admin": ("admin",),
}

# scrypt cost: n=2**14, r=8 is ~50 ms and 16 MiB per check, the interactive setting of RFC 7914.
_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    """Salted scrypt hash in the form ``scrypt$n$r$p$salt$hash`` (base64)."""
    if len(password) < 8:
        raise ValueError("a password needs at least 8 characters")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of `password` against a hash made by `hash_password`."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    expected = base64.b64decode(digest)
    actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                            dklen=len(expected))
    return hmac.compare_digest(actual, expected)


def can_open(role: str, page: str) -> bool:
    return page in ROLE_PAGES.get(role, ())


def can_decide_gate(role: str) -> bool:
    """Only a lead approves or refuses a labeler."""
    return role == "lead"


def can_change_settings(role: str) -> bool:
    """Only a lead changes what lets labels through: gate criteria, monitor thresholds, the human share."""
    return role == "lead"


def can_record_evidence(role: str) -> bool:
    """Engineers and leads record a student preview as gate evidence: it adds evidence, loosens nothing."""
    return role in ("engineer", "lead")


def can_edit_expertise(role: str) -> bool:
    """Admins (Users page) and leads (Data page, routing by expertise) set users' expertise tags."""
    return role in ("admin", "lead")


def can_draw_review(role: str) -> bool:
    """Engineers and leads draw targeted review sets (experts then label them)."""
    return role in ("engineer", "lead")


def can_force_export(role: str) -> bool:
    """Only a lead exports a labeler without a fresh approval (with a reason)."""
    return role == "lead"


def can_save_correction(role: str) -> bool:
    """Engineers and leads save a labeler's correction (the Calibrate page's users; an export applies it)."""
    return role in ("engineer", "lead")


def can_evaluate_final(role: str) -> bool:
    """Engineers and leads run a final evaluation on the sealed test split (each one is recorded)."""
    return role in ("engineer", "lead")
