"""An items import stages its rows in a temporary Parquet file; a process killed mid-import (the server, a
CLI import) leaves that file behind. The app sweeps such files when it starts: the file of the killed
process is gone, the file of a process still importing stays."""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from labelgate.importer import stage_items
from labelgate.store import Database
from labelgate.store.tasks import get_task
from tests.e2e.harness import ROOT, Server

pytestmark = pytest.mark.e2e

STAGE_AND_HANG = """
import sys, time
from labelgate.importer import stage_items
from labelgate.store import Database
from labelgate.store.tasks import get_task
task = get_task(Database(sys.argv[1]), "mt-bench")
staged = stage_items(sys.argv[2], task)
print(staged.path, flush=True)
time.sleep(600)   # killed here, mid-import: the staged file is never discarded
"""


def test_a_file_staged_by_a_process_killed_mid_import_is_swept_when_the_app_starts(tmp_path, demo_template):
    db_path = tmp_path / "demo.duckdb"
    db_path.write_bytes(Path(demo_template).read_bytes())
    items = tmp_path / "items.csv"
    items.write_text("item_id,input,output_1,output_2\n" + "".join(
        f"st-{i},Question {i},First {i},Second {i}\n" for i in range(50)), encoding="utf-8")
    # an import of this (live) process, staged first, must survive every sweep
    mine = stage_items(items, get_task(Database(db_path), "mt-bench"))
    proc = subprocess.Popen([sys.executable, "-c", STAGE_AND_HANG, str(db_path), str(items)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    left = Path(proc.stdout.readline().strip())
    assert left.exists() and left.parent == Path(tempfile.gettempdir())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert left.exists() and mine.path.exists()   # nothing of the killed process discarded it
    server = Server(db_path)
    try:
        assert not left.exists()
        assert mine.path.exists()
    finally:
        server.stop()
        mine.discard()
