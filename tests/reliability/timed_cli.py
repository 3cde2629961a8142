"""`labelgate` as a pipeline runs it, also writing how long it waited for its turns on the file.

    python -m tests.reliability.timed_cli --db FILE ARGS...   (LABELGATE_TURN_STATS=out.json)

The command is the real one in its own process; the only addition is a stopwatch around each
`Turns.acquire` (the wait in the queue for the database), written with the command's total time and CPU seconds to
the JSON file named by LABELGATE_TURN_STATS when it ends. Used by test_concurrency.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

from labelgate.store import turns

waits: list[float] = []
_acquire = turns.Turns.acquire


def _timed_acquire(self, timeout: float) -> None:
    t0 = time.monotonic()
    try:
        _acquire(self, timeout)
    finally:
        waits.append(time.monotonic() - t0)


def run(argv: list[str]) -> int:
    from labelgate.cli import main

    turns.Turns.acquire = _timed_acquire
    t0 = time.monotonic()
    try:
        return main(argv)
    finally:
        out = os.environ.get("LABELGATE_TURN_STATS")
        if out:
            use = resource.getrusage(resource.RUSAGE_SELF)
            Path(out).write_text(json.dumps({"waits": waits, "total": time.monotonic() - t0,
                                             "cpu": use.ru_utime + use.ru_stime}))


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
