"""The DuckDB file: where it is, how to open it, and its migrations.

DuckDB lets one process at a time open a file for writing, and a second process's open fails
with "Could not set lock on file". The app and the CLI therefore never hold the file open
between units of work: each `connect()` opens, does its work and closes, and an open that meets
another process's lock is retried for `lock_timeout` seconds before failing with a clear error.
"""

from __future__ import annotations

import atexit
import os
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import duckdb

DEFAULT_DB_PATH = Path(__file__).resolve().parents[2] / "data" / "labelgate.duckdb"

_migrated: set[str] = set()


class _Root:
    """This process's open connection to one file, shared through cursors."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        self.users = 0
        self.timer: threading.Timer | None = None


_roots: dict[str, _Root] = {}
_roots_lock = threading.Lock()
_open_locks: dict[str, threading.Lock] = {}


def _join(key: str) -> _Root | None:
    """With _roots_lock held: the open root of `key`, now with one more user, or None."""
    root = _roots.get(key)
    if root is not None:
        root.users += 1
        if root.timer is not None:
            root.timer.cancel()
            root.timer = None
    return root


def _close_root(key: str, root: _Root) -> None:
    """With _roots_lock held: forget and close `root`."""
    if _roots.get(key) is root:
        del _roots[key]
    root.con.close()


@atexit.register
def _close_all() -> None:
    """At exit, close what a linger left open (checkpointing the file)."""
    with _roots_lock:
        for key, root in list(_roots.items()):
            if root.timer is not None:
                root.timer.cancel()
            _close_root(key, root)


def _close_if_idle(key: str, root: _Root) -> None:
    with _roots_lock:
        if root.users == 0 and _roots.get(key) is root:
            _close_root(key, root)


class DatabaseBusyError(RuntimeError):
    """Another process held the database file for longer than the lock timeout."""


def default_db_path() -> Path:
    """LABELGATE_DB if set, else data/labelgate.duckdb beside the package."""
    env = os.environ.get("LABELGATE_DB")
    return Path(env).expanduser() if env else DEFAULT_DB_PATH


def migration_files() -> list[tuple[str, str]]:
    """(name, sql) of every migration, in the order they apply."""
    folder = resources.files("labelgate.store") / "migrations"
    files = sorted(f for f in folder.iterdir() if f.name.endswith(".sql"))
    return [(f.name.removesuffix(".sql"), f.read_text(encoding="utf-8")) for f in files]


def _is_lock_error(exc: Exception) -> bool:
    return "Could not set lock" in str(exc) or "Conflicting lock" in str(exc)


class Database:
    """Handle on one DuckDB file; cheap to create, opens the file only inside `connect()`."""

    def __init__(self, path: str | os.PathLike | None = None, *, lock_timeout: float = 30.0, linger: float = 0.0):
        self.path = Path(path) if path is not None else default_db_path()
        self.lock_timeout = lock_timeout
        self.linger = linger

    def __repr__(self) -> str:
        return f"Database({str(self.path)!r})"

    def _open(self) -> duckdb.DuckDBPyConnection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.01
        while True:
            try:
                return duckdb.connect(str(self.path))
            except duckdb.IOException as exc:
                if not _is_lock_error(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise DatabaseBusyError(
                        f"The database {self.path} is in use by another process (the app or "
                        f"another labelgate command) and stayed locked for {self.lock_timeout:.0f} s. "
                        "Try again when that work has finished."
                    ) from exc
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.5)

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor on the file, opened (and migrated on first use in this process) if need be.

        Units of work that overlap in this process share one open of the file, each through
        its own cursor (thread-safe). The file is closed when the last one ends -- or, with
        `linger` > 0 (the app), that many seconds later, so that one page run or one label
        answer opens the file once instead of once per query, while another process (the CLI)
        still gets its turn between clicks.
        """
        key = str(self.path.resolve())
        root = self._acquire(key)
        cur = root.con.cursor()
        try:
            yield cur
        finally:
            cur.close()
            self._release(key, root)

    def _acquire(self, key: str) -> _Root:
        with _roots_lock:
            root = _join(key)
            if root is not None:
                return root
            lock = _open_locks.setdefault(key, threading.Lock())
        with lock:  # one opener per file; others of this process wait here, not on the file lock
            with _roots_lock:
                root = _join(key)
                if root is not None:
                    return root
            con = self._open()
            try:
                if key not in _migrated:
                    apply_migrations(con)
                    _migrated.add(key)
            except BaseException:
                con.close()
                raise
            root = _Root(con)
            root.users = 1
            with _roots_lock:
                _roots[key] = root
            return root

    def _release(self, key: str, root: _Root) -> None:
        with _roots_lock:
            root.users -= 1
            if root.users > 0:
                return
            if self.linger <= 0:
                _close_root(key, root)
                return
            root.timer = threading.Timer(self.linger, _close_if_idle, args=(key, root))
            root.timer.daemon = True
            root.timer.start()

    def close(self) -> None:
        """Close this process's open of the file now if nothing uses it (e.g. before copying it)."""
        key = str(self.path.resolve())
        with _roots_lock:
            root = _roots.get(key)
            if root is not None and root.users == 0:
                if root.timer is not None:
                    root.timer.cancel()
                _close_root(key, root)

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection inside BEGIN ... COMMIT; any exception rolls everything back."""
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    @contextmanager
    def session(self) -> Iterator[Database]:
        """One open of the file for several units of work (a read path such as `gate check`).

        Yields a Database whose `connect()` and `transaction()` reuse this one connection, so any
        store function given it runs on the same open file (each open costs ~15 ms on a big file).
        Use it in one thread, and keep it short: the file stays locked while it is open.
        """
        with self.connect() as con:
            yield _Session(self, con)


class _Session(Database):
    """A Database bound to one open connection (see `Database.session`)."""

    def __init__(self, db: Database, con: duckdb.DuckDBPyConnection):
        super().__init__(db.path, lock_timeout=db.lock_timeout)
        self._con = con

    def __repr__(self) -> str:
        return f"Database.session({str(self.path)!r})"

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        yield self._con

    @contextmanager
    def session(self) -> Iterator[Database]:
        yield self


def apply_migrations(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply every migration not yet recorded, each in the transaction that records it."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    done = {row[0] for row in con.execute("SELECT name FROM schema_migrations").fetchall()}
    applied = []
    for name, sql in migration_files():
        if name in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations (name) VALUES (?)", [name])
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
        applied.append(name)
    return applied


def fetch_one(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> tuple | None:
    """The first row of a small query (LIMIT 1, an aggregate), or None, fully consumed.

    DuckDB 2.0 refuses `register()` and other connection work while a result is only partly
    fetched, so a plain `fetchone()` on a query with rows would poison the connection.
    """
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None
