"""Wrong passwords are slowed per account and per client, recorded, and shown to the admin.

The clock is driven through log_in's `now`: no test waits or measures time.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from labelgate.login import LOCK_SECONDS, delay_after, log_in
from labelgate.store import Database
from labelgate.store.logins import recent_failures
from labelgate.store.users import add_user

T0 = datetime(2026, 12, 1, 9, 0, 0)


def attempts(db: Database) -> list[tuple]:
    db.close()
    con = duckdb.connect(str(db.path), read_only=True)
    try:
        return con.execute("SELECT at_utc, user_name, client, outcome FROM login_attempts ORDER BY at_utc").fetchall()
    finally:
        con.close()


@pytest.fixture
def accounts(db):
    add_user(db, "lead", "lead", "lead-password")
    add_user(db, "ann", "expert", "ann-password")
    return db


def test_delays_grow_exponentially_after_five_failures_and_lock_at_twenty():
    assert [delay_after(n) for n in range(5)] == [0, 0, 0, 0, 0]
    assert [delay_after(n) for n in range(5, 12)] == [1, 2, 4, 8, 16, 32, 60]
    assert delay_after(19) == 60 and delay_after(20) == LOCK_SECONDS == 900


def test_twenty_wrong_passwords_lock_the_account_and_the_right_one_is_refused_until_the_lock_ends(accounts):
    db, t = accounts, T0
    for i in range(20):  # each try comes just after the delay the previous failures imposed
        result = log_in(db, "lead", f"guess-{i}", client="10.0.0.1", now=t)
        assert result.user is None and result.message.startswith("Wrong user name or password.")
        t += timedelta(seconds=delay_after(i + 1) + 0.5)
    t = T0 + timedelta(minutes=30)
    rows = attempts(db)
    assert [r[3] for r in rows] == ["wrong"] * 20
    assert {(r[1], r[2]) for r in rows} == {("lead", "10.0.0.1")}
    last_failure = rows[-1][0]

    for later in (timedelta(seconds=1), timedelta(minutes=14, seconds=59)):
        refused = log_in(db, "lead", "lead-password", client="10.9.9.9", now=last_failure + later)
        assert refused.user is None and "locked" in refused.message
    assert [r[3] for r in attempts(db)][-2:] == ["refused", "refused"]

    ok = log_in(db, "lead", "lead-password", client="10.9.9.9", now=last_failure + timedelta(minutes=15, seconds=1))
    assert ok.user is not None and ok.user.role == "lead"
    # the success clears the account's count: one more wrong password is not delayed
    log_in(db, "lead", "typo", client="10.9.9.9", now=last_failure + timedelta(minutes=16))
    again = log_in(db, "lead", "lead-password", client="10.9.9.9", now=last_failure + timedelta(minutes=16))
    assert again.user is not None and again.user.name == "lead"


def test_a_try_inside_the_delay_is_refused_without_checking_the_password(accounts):
    db = accounts
    for i in range(5):
        log_in(db, "ann", "nope", client="10.0.0.2", now=T0 + timedelta(seconds=i * 10))
    last = T0 + timedelta(seconds=40)
    early = log_in(db, "ann", "ann-password", client="10.0.0.3", now=last + timedelta(seconds=0.5))
    assert early.user is None and "Try again in 1 s" in early.message
    on_time = log_in(db, "ann", "ann-password", client="10.0.0.3", now=last + timedelta(seconds=1.5))
    assert on_time.user is not None and on_time.user.name == "ann"
    assert [r[3] for r in attempts(db)] == ["wrong"] * 5 + ["refused", "ok"]


def test_one_client_guessing_many_accounts_is_slowed_too(accounts):
    db = accounts
    names = [f"user{i}" for i in range(6)]  # accounts that do not exist: one failure each
    for i, name in enumerate(names):
        assert log_in(db, name, "pw-guess", client="203.0.113.7", now=T0 + timedelta(seconds=i)).user is None
    # the sixth failure from this client imposes 2 s on it, whatever account it names next
    refused = log_in(db, "ann", "ann-password", client="203.0.113.7", now=T0 + timedelta(seconds=6))
    assert refused.user is None and "Try again" in refused.message
    # another client is not affected
    other = log_in(db, "ann", "ann-password", client="198.51.100.1", now=T0 + timedelta(seconds=6))
    assert other.user is not None and other.user.name == "ann"


def test_failures_expire_after_a_day(accounts):
    db = accounts
    for i in range(20):
        log_in(db, "lead", "nope", client="cli", now=T0 + timedelta(minutes=i * 15))
    day_later = T0 + timedelta(minutes=19 * 15) + timedelta(hours=24, seconds=1)
    later = log_in(db, "lead", "lead-password", client="cli", now=day_later)
    assert later.user is not None and (later.user.name, later.user.role) == ("lead", "lead")


def test_the_admin_sees_the_failures_on_the_users_page(app_for, demo_db):
    log_in(demo_db, "lead", "not-the-password", client="192.0.2.44", now=T0)
    log_in(demo_db, "**nobody**", "whatever", client="192.0.2.44", now=T0 + timedelta(seconds=1))
    assert list(recent_failures(demo_db)["user_name"]) == ["**nobody**", "lead"]

    at = app_for("admin")
    assert not at.exception
    assert [s.value for s in at.subheader if s.value == "Failed logins"]
    table = next(df.value for df in at.dataframe if "client" in df.value.columns)
    assert list(table["user_name"]) == ["**nobody**", "lead"]
    assert set(table["client"]) == {"192.0.2.44"}
    assert set(table["outcome"]) == {"wrong password"}


def test_the_cli_password_check_is_throttled_too(accounts, monkeypatch):
    import io

    from labelgate.cli.common import CommandError, login

    db = accounts
    t = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=12)  # 20 failures just behind us
    for i in range(20):
        log_in(db, "lead", "wrong-password", client="cli", now=t)
        t += timedelta(seconds=delay_after(i + 1) + 0.5)
    monkeypatch.setattr("sys.stdin", io.StringIO("lead-password\n"))
    with pytest.raises(CommandError, match="locked"):
        login(db, "lead", True)
    assert [r[2:] for r in attempts(db)] == [("cli", "wrong")] * 20 + [("cli", "refused")]


def test_the_login_table_arrives_on_a_database_of_the_previous_release(tmp_path):
    previous = Path(__file__).resolve().parents[1] / "data" / "previous_release.duckdb"
    path = tmp_path / "old.duckdb"
    shutil.copy(previous, path)
    db = Database(path)
    ok = log_in(db, "lead", "lead-demo", client="localhost", now=T0)
    assert ok.user is not None and (ok.user.name, ok.user.role) == ("lead", "lead")
    assert [r[1:] for r in attempts(db)] == [("lead", "localhost", "ok")]
