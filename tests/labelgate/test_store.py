"""The DuckDB file: migrations, append-only labels, and two processes sharing the file."""

from __future__ import annotations

import subprocess
import sys
import time

import duckdb
import pytest

from labelgate.store import Database, DatabaseBusyError
from labelgate.store.db import migration_files
from labelgate.store.labels import DuplicateLabelError, append_human_label
from labelgate.store.tasks import create_task, get_task, revise_task
from labelgate.tasks import make_spec


def test_migrations_apply_in_order_to_an_empty_file(db):
    with db.connect() as con:
        applied = [r[0] for r in con.execute("SELECT name FROM schema_migrations ORDER BY applied_at").fetchall()]
        tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    assert applied == [name for name, _ in migration_files()]
    assert applied == sorted(applied)
    assert {"users", "tasks", "items", "human_labels", "llm_labels", "labeler_versions"} <= tables


def test_reconnecting_applies_nothing_twice(db):
    with db.connect():
        pass
    fresh = Database(db.path)
    with fresh.connect() as con:
        names = [r[0] for r in con.execute("SELECT name FROM schema_migrations").fetchall()]
    assert len(names) == len(set(names)) == len(migration_files())


def test_task_revisions_are_appended(db):
    create_task(db, "sent", "categorical", make_spec("categorical", labels=["pos", "neg"]), rubric="v1")
    revise_task(db, "sent", rubric="v2", created_by="lead")
    task = get_task(db, "sent")
    assert (task.revision, task.rubric) == (2, "v2")
    with db.connect() as con:
        assert con.execute("SELECT rubric FROM task_revisions ORDER BY revision").fetchall() == [("v1",), ("v2",)]


def test_a_rater_cannot_answer_the_same_item_twice(db):
    task = create_task(db, "sent", "categorical", make_spec("categorical", labels=["pos", "neg"]))
    append_human_label(db, task_id=task.task_id, item_id="a", rater="ann", status="label", value="pos")
    with pytest.raises(DuplicateLabelError, match="ann has already answered item a"):
        append_human_label(db, task_id=task.task_id, item_id="a", rater="ann", status="label", value="neg")
    with db.connect() as con:
        assert con.execute("SELECT value FROM human_labels").fetchall() == [("pos",)]


def test_a_second_process_waits_for_the_lock_then_proceeds(db):
    """The app and the CLI take turns on the file instead of failing or corrupting it."""
    create_task(db, "sent", "categorical", make_spec("categorical", labels=["pos", "neg"]))
    holder = duckdb.connect(str(db.path))  # another process's view: hold the write lock
    code = (
        "import time; from labelgate.store import Database; from labelgate.store.tasks import get_task;"
        "print('trying', flush=True); t = time.monotonic();"
        f"kind = get_task(Database({str(db.path)!r}, lock_timeout=30), 'sent').kind;"
        "print(kind, round(time.monotonic() - t, 2), flush=True)"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "trying"  # it is now retrying against our lock
        time.sleep(1.0)
        holder.close()
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 0, err
    kind, waited = out.split()
    assert kind == "categorical" and float(waited) >= 0.9  # it waited for the lock, then read


def test_a_lock_held_too_long_gives_a_clear_error(db):
    with db.connect():
        pass
    code = (
        "import duckdb, time, sys; c = duckdb.connect(sys.argv[1]); print('locked', flush=True); time.sleep(30)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(db.path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(DatabaseBusyError, match="in use by another process"):
            with Database(db.path, lock_timeout=0.5).connect():
                pass
    finally:
        holder.kill()
        holder.wait()
