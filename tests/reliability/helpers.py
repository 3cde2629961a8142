"""Shared by the reliability tests: whole-table contents, running the CLI in its own process, and the
memory of a process tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[2]


def table_rows(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table and view of the file, sorted (read-only, so a running app is not
    disturbed). Views count: human_labels became the view of the current answers in 0009."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
            " UNION SELECT view_name FROM duckdb_views() WHERE database_name = current_database() AND NOT internal"
            " ORDER BY 1").fetchall()]
        return {t: sorted(con.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
    finally:
        con.close()


def cli(db: Path, *args: str, timeout: float = 120, stdin: str | None = None,
        env: dict | None = None) -> subprocess.CompletedProcess:
    """`labelgate --db DB ARGS` in a new process, as a pipeline would run it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "labelgate.cli", "--db", str(db), *args], capture_output=True,
                          text=True, timeout=timeout, env=env, input=stdin, cwd=ROOT)


def timed_cli(db: Path, stats: Path, *args: str, timeout: float = 300) -> tuple[subprocess.CompletedProcess, dict]:
    """`cli`, through tests/reliability/timed_cli.py: also returns {"waits": [s, ...], "total": s}, the
    command's waits for its turns on the file and its whole time."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LABELGATE_TURN_STATS": str(stats)}
    out = subprocess.run([sys.executable, "-m", "tests.reliability.timed_cli", "--db", str(db), *args],
                         capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    return out, (json.loads(stats.read_text()) if stats.exists() else {"waits": [], "total": None})


def rss_tree(pid: int) -> int:
    """Resident memory in bytes of a process and all its descendants, read from /proc (0 once gone)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                total += next((int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:")), 0)
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


class PeakRss:
    """Samples `rss_tree(pid)` every `every` seconds in a thread while the `with` block runs."""

    def __init__(self, pid: int, every: float = 0.02):
        self.pid, self.every = pid, every
        self.start = self.peak = 0
        self._stop = threading.Event()

    def __enter__(self) -> PeakRss:
        self.start = self.peak = rss_tree(self.pid)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, rss_tree(self.pid))

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_tree(self.pid))
