"""Logging in with a password, slowed after wrong ones (per account and per client) and recorded.

After FREE_FAILURES wrong passwords in a row for an account, or from one client (a browser's IP
address, or the CLI), the next try must wait 1 s, then 2, 4, ... up to MAX_DELAY; after
LOCK_FAILURES it must wait LOCK_SECONDS. A try that comes too early is refused without even
checking the password -- the right one included -- so guessing gains nothing from speed. A
success clears the count of its account and of its client; failures older than WINDOW expire.
Every try is appended to login_attempts; the Users page shows the failures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from labelgate.store import Database
from labelgate.store.logins import failures_since, record_attempt
from labelgate.store.users import User, authenticate

FREE_FAILURES = 5
MAX_DELAY = 60.0
LOCK_FAILURES = 20
LOCK_SECONDS = 15 * 60.0
WINDOW = timedelta(hours=24)


def delay_after(failures: int) -> float:
    """Seconds a client must wait after its last wrong password, given how many there were."""
    if failures < FREE_FAILURES:
        return 0.0
    if failures >= LOCK_FAILURES:
        return LOCK_SECONDS
    return min(2.0 ** (failures - FREE_FAILURES), MAX_DELAY)


def wait_seconds(failure_times: list[datetime], now_utc: datetime) -> float:
    """How long from `now_utc` until another try is allowed (0: now)."""
    if not failure_times:
        return 0.0
    allowed_at = max(failure_times) + timedelta(seconds=delay_after(len(failure_times)))
    return max(0.0, (allowed_at - now_utc).total_seconds())


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    message: str = ""  # why not, for the person trying (never which of name or password was wrong)


def _utc(now: datetime | None) -> datetime:
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now


def _in_words(seconds: float) -> str:
    seconds = max(1, round(seconds))
    return f"{seconds} s" if seconds < 90 else f"{round(seconds / 60)} min"


def log_in(db: Database, name: str, password: str, *, client: str, now: datetime | None = None) -> LoginResult:
    """Check a password, unless this account or client must wait; record the try either way.

    `now` (UTC) is injectable so that tests drive the clock.
    """
    name = name.strip()
    now_utc = _utc(now)
    by_user, by_client = failures_since(db, user_name=name, client=client, since_utc=now_utc - WINDOW)
    wait = max(wait_seconds(by_user, now_utc), wait_seconds(by_client, now_utc))
    if wait > 0:
        record_attempt(db, name, client, "refused", now_utc)
        locked = max(len(by_user), len(by_client)) >= LOCK_FAILURES
        return LoginResult(None, ("Too many wrong passwords: logging in is locked" if locked else
                                  "Too many wrong passwords in a row") + f" for this account or from this "
                                 f"computer. Try again in {_in_words(wait)}.")
    user = authenticate(db, name, password)
    record_attempt(db, name, client, "ok" if user else "wrong", now_utc)
    if user is not None:
        return LoginResult(user)
    failures = max(len(by_user), len(by_client)) + 1
    message = "Wrong user name or password."
    if failures >= FREE_FAILURES:
        message += f" After {failures} wrong tries the next one must wait {_in_words(delay_after(failures))}."
    return LoginResult(None, message)
