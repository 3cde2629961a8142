"""`labelgate backup` and `labelgate restore`: a consistent copy while the app labels, and back."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb

from labelgate.cli import main
from tests.reliability.helpers import ROOT, cli, table_rows

# A stand-in for the app's process: an expert answering as fast as they can through the same
# code and database handle as the Label page (Database(linger=APP_LINGER)), printing each answer once it is
# committed.
LABELER = """
import sys
from labelgate.labeling import next_item, submit_answer
from labelgate.store import Database
from labelgate.store.tasks import get_task
from labelgate.ui.session import APP_LINGER
db = Database(sys.argv[1], linger=APP_LINGER)
task = get_task(db, "mt-bench")
item = next_item(db, task, "expert", retest_share=0)
while item is not None:
    submit_answer(db, task, "expert", item, answer="1")
    print(item.item_id, flush=True)
    item = next_item(db, task, "expert", retest_share=0)
"""


def test_a_backup_while_an_expert_labels_holds_every_acknowledged_answer_and_restores_exactly(demo_db, tmp_path):
    path = demo_db.path
    demo_db.close()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    labeler = subprocess.Popen([sys.executable, "-c", LABELER, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        acknowledged = [labeler.stdout.readline().strip() for _ in range(10)]   # answers stored before the backup
        out = cli(path, "backup", "--out", str(tmp_path / "backup.duckdb"))
        acknowledged += [labeler.stdout.readline().strip() for _ in range(3)]     # and the app goes on
    finally:
        labeler.kill()
        labeler.wait()
    assert out.returncode == 0, out.stderr
    assert "wrote" in out.stdout and "human labels" in out.stdout
    assert not (tmp_path / "backup.duckdb.wal").exists()   # checkpointed: the file alone is the backup
    con = duckdb.connect(str(tmp_path / "backup.duckdb"), read_only=True)
    stored = {r[0] for r in con.execute("SELECT item_id FROM human_labels WHERE rater = 'expert'").fetchall()}
    con.close()
    assert set(acknowledged[:10]) <= stored

    backup_rows = table_rows(tmp_path / "backup.duckdb")
    restored = tmp_path / "restored.duckdb"
    shutil.copy(path, restored)   # a database with later answers (some still in its log), to be replaced
    shutil.copy(f"{path}.wal", f"{restored}.wal")
    out = cli(restored, "restore", str(tmp_path / "backup.duckdb"))
    assert out.returncode == 0, out.stderr
    assert "the database it replaced is kept as" in out.stdout
    assert table_rows(restored) == backup_rows   # the same rows in every table
    (kept,) = [p for p in tmp_path.glob("restored.duckdb.before-restore-*") if p.suffix != ".wal"]
    assert not Path(f"{restored}.wal").exists()   # the replaced file's log went with it
    assert set(acknowledged) <= {r[2] for r in table_rows(kept)["human_labels"] if r[3] == "expert"}


def test_restore_refuses_a_file_it_cannot_use_and_changes_nothing(demo_db, tmp_path, capsys):
    path = demo_db.path
    demo_db.close()
    before = table_rows(path)
    garbage = tmp_path / "garbage.duckdb"
    garbage.write_bytes(os.urandom(300_000))
    foreign = tmp_path / "foreign.duckdb"
    con = duckdb.connect(str(foreign))
    con.execute("CREATE TABLE orders (id INTEGER)")
    con.close()
    newer = tmp_path / "newer.duckdb"
    shutil.copy(path, newer)
    con = duckdb.connect(str(newer))
    con.execute("INSERT INTO schema_migrations (name) VALUES ('9999_from_the_future')")
    con.close()
    for bad, message in [(garbage, "not a usable DuckDB database file"), (foreign, "not a labelgate database"),
                         (newer, "written by a newer release"), (tmp_path / "missing.duckdb", "does not exist")]:
        assert main(["--db", str(path), "restore", str(bad)]) == 2, bad
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert table_rows(path) == before
    assert not list(tmp_path.glob("*.before-restore-*"))


def test_backup_refuses_to_overwrite_a_file(demo_db, tmp_path, capsys):
    demo_db.close()
    (tmp_path / "exists.duckdb").write_text("keep me")
    assert main(["--db", str(demo_db.path), "backup", "--out", str(tmp_path / "exists.duckdb")]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "exists.duckdb").read_text() == "keep me"
