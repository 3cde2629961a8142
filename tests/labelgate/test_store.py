"""The DuckDB file: migrations, append-only labels, and two processes sharing the file."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import duckdb
import pytest

from labelgate.store import Database, DatabaseBusyError
from labelgate.store.db import migration_files
from labelgate.store.labels import DuplicateLabelError, append_human_label
from labelgate.store.tasks import create_task, get_task, revise_task
from labelgate.tasks import make_spec
from tests.labelgate.schema_helpers import schema_before


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
    code = textwrap.dedent(f"""
        from labelgate.store import Database
        from labelgate.store.tasks import get_task
        db = Database({str(db.path)!r}, lock_timeout=30)
        print("trying", flush=True)
        kind = get_task(db, "sent").kind
        with db.connect() as con:
            print(kind, con.execute("SELECT v FROM written_while_locked").fetchone()[0])
        """)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "trying"  # it is now retrying against our lock
        time.sleep(1.0)  # settle: a child that fails on a locked file instead of waiting ends here
        assert child.poll() is None, child.stderr.read()
        # written while the child waits: it can only see this if it read after we let go
        holder.execute("CREATE TABLE written_while_locked AS SELECT 42 AS v")
        holder.close()
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 0, err
    assert out.split() == ["categorical", "42"]


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


def test_migration_0011_forward_from_the_previous_schema(tmp_path):
    """A file made before 0011 keeps its imports and labels; invalid outputs get their table."""
    path = tmp_path / "old.duckdb"
    con = schema_before(path, "0011")
    con.execute("INSERT INTO imports (task_id, kind, source, file_name, file_sha256, n_rows, n_added)"
                " VALUES (1, 'labels', 'llm', 'old.csv', 'abc', 3, 3)")
    con.execute("INSERT INTO llm_labels (task_id, item_id, labeler, version, batch, value, value_num, source)"
                " VALUES (1, 'a', 'judge', 'v1', 'default', '3', 3.0, 'import')")
    con.close()
    db = Database(path)
    with db.connect() as con:
        assert con.execute("SELECT file_name, n_added, n_invalid, n_clipped FROM imports").fetchall() == \
            [("old.csv", 3, 0, 0)]
        assert con.execute("SELECT item_id, value FROM llm_labels").fetchall() == [("a", "3")]
        assert con.execute("SELECT count(*) FROM llm_invalid_labels").fetchone() == (0,)
        assert "0011_llm_invalid_outputs" in {r[0] for r in con.execute("SELECT name FROM schema_migrations")
                                              .fetchall()}


def test_migration_0009_keeps_every_answer_and_user_of_a_database_made_before_it(tmp_path):
    """A file made by the schema up to 0007: its human labels move into the chained table, the
    view shows them unchanged, and tasks get the default overlap share."""
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ DEFAULT now())")
    for name, sql in migration_files():
        if name < "0009":
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations (name) VALUES (?)", [name])
    con.execute("INSERT INTO tasks (name, kind) VALUES ('t', 'categorical')")
    con.execute("INSERT INTO task_revisions (task_id, revision, spec, text_columns) VALUES (1, 1, '{}', '[]')")
    con.execute("INSERT INTO human_labels (task_id, item_id, rater, status, value, source) VALUES"
                " (1, 'a', 'ann', 'label', 'pos', 'app'), (1, 'b', 'ann', 'skip', NULL, 'app'),"
                " (1, 'a', 'gold', 'label', 'neg', 'import')")
    before = con.execute("SELECT * FROM human_labels ORDER BY label_id").fetchall()
    con.close()
    db = Database(path)
    with db.connect() as con:
        after = con.execute("SELECT * FROM human_labels ORDER BY label_id").fetchall()
        # later migrations append columns (0014: criterion 'label', no rationale), never change the old ones
        assert [r[:len(before[0])] for r in after] == before
        assert {r[len(before[0]):] for r in after} == {("label", None)}
        assert con.execute("SELECT count(*), min(revision), max(revision) FROM human_label_rows").fetchall() == [
            (3, 1, 1)]
    assert get_task(db, "t").overlap_share == 0.2
    # new answers continue the id sequence and chain after the old ones
    append_human_label(db, task_id=1, item_id="c", rater="ann", status="label", value="pos")
    with db.connect() as con:
        assert con.execute("SELECT max(label_id) FROM human_labels").fetchall() == [(4,)]
