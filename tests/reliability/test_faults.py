"""A labeler run killed mid-way (SIGKILL) resumes without paying again for the items it finished."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

from tests.labelgate.llm_helpers import PLANTED_KEY, answer_by_number, count, labeler, make_categorical
from tests.llm_server import FakeLLMServer
from tests.reliability.helpers import ROOT, cli


def test_a_killed_run_resumes_without_asking_again_for_finished_items(tmp_path):
    # 200 items at 0.1 s with 2 in flight take ~10 s, several flushes (every 2 s): the kill lands mid-run
    # even when a loaded machine is slow to read beside the run (60 items at 0.05 s once all landed first)
    n = 200
    server = FakeLLMServer(answer=answer_by_number, latency=0.1).start()
    try:
        db, task = make_categorical(tmp_path, n)
        labeler(db, task, server)
        db.close()
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENAI_API_KEY": PLANTED_KEY}
        run = subprocess.Popen([sys.executable, "-m", "labelgate.cli", "--db", str(db.path), "run", "--task",
                                task.name, "--labeler", "judge", "--items", "calibration", "--concurrency", "2",
                                "--no-progress"], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while count(db, "SELECT count(*) FROM llm_labels") < 15:   # read beside the run: it takes turns
            assert run.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
            time.sleep(0.05)
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
        finished = {r for (r,) in db_rows(db, "SELECT DISTINCT item_id FROM llm_labels")}
        assert 15 <= len(finished) < n
        (run_id,) = db_rows(db, "SELECT max(run_id) FROM llm_runs")[0]
        server.reset_counts()

        out = cli(db.path, "run", "--resume", str(run_id), "--no-progress", env={"OPENAI_API_KEY": PLANTED_KEY})
        assert out.returncode == 0, out.stderr
        asked = {f"r{int(num):03d}" for req in server.requests
                 for num in re.findall(r"review number (\d+)", str(req))}
        labels = db_rows(db, "SELECT item_id, count(*) FROM llm_labels GROUP BY item_id")
    finally:
        server.stop()
    print(f"\nfaults: killed after {len(finished)} of {n} items; the resumed run sent {len(asked)} requests "
          f"for the other {n - len(finished)}")
    assert asked & finished == set()              # nothing finished is paid for again
    assert asked == {f"r{i:03d}" for i in range(n)} - finished
    assert sorted(labels) == [(f"r{i:03d}", 1) for i in range(n)]   # every item once


def db_rows(db, sql: str) -> list[tuple]:
    with db.connect() as con:
        return con.execute(sql).fetchall()
