"""Fair turns between processes on one database file, through POSIX locks on `<file>.lock`.

DuckDB lets one process at a time open a file, and a process that meets another's open just
fails; retrying until the other lets go never succeeds against an app whose experts answer
faster than it closes the file. So every labelgate process takes a *turn* before it opens the
file and gives it back when its unit of work ends, and the holder can see that someone waits:

- byte 0 of the lock file is the turn: held by the one process that has the database open;
- byte 1 is the head of the queue: held by the one process waiting for byte 0. Others wait
  for byte 1, so a process that just gave the turn up queues behind the one already waiting
  (the turn alternates instead of going back to whoever re-asks fastest);
- the holder tests byte 1 to learn that another process waits (`others_waiting`), and then
  finishes what it is doing and closes the file instead of keeping it open for its next click.

The kernel drops a process's locks when it exits, even by SIGKILL, so a crash never leaves a
stale turn behind. POSIX locks belong to the process, not to a thread or a file descriptor:
each process opens the lock file once and never closes it (closing any descriptor of the file
would drop all its locks), and one thread at a time acquires (the caller, `db.py`, ensures it).
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

_TURN, _QUEUE = 0, 1
_fds: dict[str, int] = {}
_fds_lock = threading.Lock()


class TurnTimeout(TimeoutError):
    """The turn did not come within the timeout."""


def _fd(path: Path) -> int:
    key = str(path)
    with _fds_lock:
        if key not in _fds:
            path.parent.mkdir(parents=True, exist_ok=True)
            _fds[key] = os.open(key, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        return _fds[key]


def _try(fd: int, byte: int) -> bool:
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, byte)
    except (BlockingIOError, PermissionError):
        return False
    return True


def _wait_for(fd: int, byte: int, deadline: float) -> None:
    # Polled rather than blocking, so that the wait can time out; 1-4 ms apart keeps the hand-over
    # well under the cost of opening the database.
    pause = 0.001
    while not _try(fd, byte):
        if time.monotonic() >= deadline:
            raise TurnTimeout
        time.sleep(pause)
        pause = min(pause * 1.5, 0.004)


class Turns:
    """The turns on one database file (one lock file per database, beside it)."""

    def __init__(self, db_path: Path):
        self.path = Path(str(db_path) + ".lock")

    def acquire(self, timeout: float) -> None:
        """Wait in the queue, then for the turn; raises TurnTimeout after `timeout` seconds."""
        fd = _fd(self.path)
        deadline = time.monotonic() + timeout
        _wait_for(fd, _QUEUE, deadline)
        try:
            _wait_for(fd, _TURN, deadline)
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN, 1, _QUEUE)

    def release(self) -> None:
        fcntl.lockf(_fd(self.path), fcntl.LOCK_UN, 1, _TURN)

    def others_waiting(self) -> bool:
        """Whether another process waits for the turn (call only while holding it)."""
        fd = _fd(self.path)
        if not _try(fd, _QUEUE):
            return True
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, _QUEUE)
        return False
