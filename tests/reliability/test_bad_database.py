"""A database this release cannot use is refused with one sentence, and no one ever sees a traceback."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import duckdb
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from labelgate.cli import main
from tests.reliability.helpers import cli

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def _garbage(path: Path) -> Path:
    path.write_bytes(b"DUCK" + os.urandom(200_000))
    return path


def _foreign(path: Path) -> Path:
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE invoices (id INTEGER, amount DOUBLE)")
    con.close()
    return path


def _newer(path: Path, demo: Path) -> Path:
    shutil.copy(demo, path)
    con = duckdb.connect(str(path))
    con.execute("ALTER TABLE users ADD COLUMN team VARCHAR NOT NULL DEFAULT 'core'")
    con.execute("INSERT INTO schema_migrations (name) VALUES ('0042_from_a_newer_release')")
    con.close()
    return path


CASES = {
    "damaged": ("not a usable DuckDB database file", lambda p, demo: _garbage(p)),
    "not labelgate": ("not a labelgate database", lambda p, demo: _foreign(p)),
    "newer": ("written by a newer release of labelgate", _newer),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_cli_refuses_the_file_in_one_sentence_and_leaves_it_alone(case, demo_db, tmp_path, capsys):
    message, make = CASES[case]
    demo_db.close()
    path = make(tmp_path / "bad.duckdb", demo_db.path)
    before = path.read_bytes()
    for args in (["report", "--task", "mt-bench"], ["gate", "check", "--task", "mt-bench", "--labeler", "GPT-4"]):
        assert main(["--db", str(path), *args]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert path.read_bytes() == before   # nothing migrated or written
    if case == "damaged":   # and as its own process (python -m labelgate.cli): no traceback either
        out = cli(path, "report", "--task", "mt-bench")
        assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


@pytest.fixture
def app_log():
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Keep(logging.ERROR)
    logging.getLogger("labelgate.app").addHandler(handler)
    st.cache_resource.clear()
    yield records
    logging.getLogger("labelgate.app").removeHandler(handler)
    st.cache_resource.clear()


@pytest.mark.parametrize("case", list(CASES))
def test_the_login_page_refuses_the_file_in_one_sentence(case, demo_db, tmp_path, monkeypatch, app_log):
    message, make = CASES[case]
    demo_db.close()
    monkeypatch.setenv("LABELGATE_DB", str(make(tmp_path / "bad.duckdb", demo_db.path)))
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert [message in e.value for e in at.error] == [True]
    assert "Traceback" not in at.error[0].value and ".py" not in at.error[0].value
    assert not at.text_input   # no login form on a database that cannot be used


def test_an_unexpected_error_shows_an_id_and_logs_the_traceback_under_it(demo_db, monkeypatch, app_log):
    import labelgate.login as login

    def broken(db, name, password, **kw):
        raise RuntimeError("secret detail at /srv/labelgate/app.py line 12")

    monkeypatch.setenv("LABELGATE_DB", str(demo_db.path))
    monkeypatch.setattr(login, "log_in", broken)
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.text_input(key="login_name").input("expert")
    at.text_input(key="login_password").input("expert-demo")
    at.button[0].click().run()
    assert not at.exception
    (shown,) = [e.value for e in at.error]
    assert "secret detail" not in shown and "Traceback" not in shown
    error_id = shown.split("error id ")[1].split(")")[0]
    (logged,) = [r for r in app_log if error_id in r.getMessage()]
    assert logged.exc_info and "secret detail" in str(logged.exc_info[1])
