"""The command line as a pipeline uses it: exit codes, messages, and what lands in the database."""

from __future__ import annotations

import io
import subprocess
import sys

from labelgate.cli import main as cli
from labelgate.store.tasks import get_task
from labelgate.store.users import authenticate


def run(db, *args, stdin: str | None = None, monkeypatch=None) -> int:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return cli(["--db", str(db.path), *args])


def test_users_add_reads_the_password_from_stdin_and_stores_only_a_hash(db, monkeypatch, capsys):
    assert run(db, "users", "add", "ann", "--role", "lead", "--password-stdin", stdin="s3cret-pass\n",
               monkeypatch=monkeypatch) == 0
    assert "created lead ann" in capsys.readouterr().out
    assert authenticate(db, "ann", "s3cret-pass").role == "lead"
    assert authenticate(db, "ann", "wrong-pass") is None
    with db.connect() as con:
        (stored,) = con.execute("SELECT password_hash FROM users").fetchall()[0]
    assert stored.startswith("scrypt$") and "s3cret-pass" not in stored
    assert b"s3cret-pass" not in db.path.read_bytes()


def test_users_add_refuses_bad_input(db, monkeypatch, capsys):
    assert run(db, "users", "add", "ann", "--role", "lead", "--password-stdin", stdin="short\n",
               monkeypatch=monkeypatch) == 2
    assert "at least 8 characters" in capsys.readouterr().err
    run(db, "users", "add", "ann", "--role", "expert", "--password-stdin", stdin="long-enough\n",
        monkeypatch=monkeypatch)
    assert run(db, "users", "add", "ann", "--role", "expert", "--password-stdin", stdin="long-enough\n",
               monkeypatch=monkeypatch) == 2
    assert "already exists" in capsys.readouterr().err


def test_task_create_for_every_kind(db, tmp_path, capsys):
    rubric = tmp_path / "rubric.md"
    rubric.write_text("# Rate the story\n\n5 = excellent", encoding="utf-8")
    assert run(db, "task", "create", "topic", "--kind", "categorical", "--labels", "sports,politics,tech") == 0
    assert run(db, "task", "create", "quality", "--kind", "ordinal", "--scale", "1-5",
               "--anchors", "1=poor;5=excellent", "--rubric", str(rubric)) == 0
    assert run(db, "task", "create", "toxicity", "--kind", "continuous", "--range", "0,1") == 0
    assert run(db, "task", "create", "pref", "--kind", "pairwise", "--labels", "1,2,tie") == 0
    out = capsys.readouterr().out
    assert "created ordinal task quality: a whole number from 1 to 5" in out
    q = get_task(db, "quality")
    assert q.spec == {"scale": [1, 5], "anchors": {"1": "poor", "5": "excellent"}} and q.rubric.startswith("# Rate")
    assert get_task(db, "pref").labels == ["1", "2", "tie"]
    assert get_task(db, "toxicity").spec == {"range": [0.0, 1.0]}


def test_task_create_errors_name_the_option(db, capsys):
    assert run(db, "task", "create", "t", "--kind", "categorical", "--labels", "only") == 2
    assert "at least two distinct labels" in capsys.readouterr().err
    assert run(db, "task", "create", "t", "--kind", "continuous", "--range", "1,x") == 2
    assert "--range takes two numbers" in capsys.readouterr().err
    assert run(db, "task", "create", "t", "--kind", "pairwise", "--labels", "a,b") == 2
    assert "pairwise answers are 1" in capsys.readouterr().err
    assert run(db, "task", "show", "nope") == 2
    assert "no task named 'nope'" in capsys.readouterr().err


def test_demo_then_draw_through_the_console_script(tmp_path):
    env_db = tmp_path / "cli.duckdb"
    exe = [sys.executable, "-m", "labelgate.cli", "--db", str(env_db)]
    out = subprocess.run([*exe, "demo"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "loaded the demo task 'mt-bench'" in out.stdout and "expert-demo" in out.stdout
    out = subprocess.run([*exe, "calibration", "draw", "--task", "mt-bench", "--size", "50",
                          "--stratify-by", "length_gap", "--experts-per-item", "3"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "calibration set of 50 items, stratified by length_gap (seed 0); 3 experts per item" in out.stdout
