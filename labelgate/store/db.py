"""The DuckDB file: where it is, how to open it in turn with other processes, and its migrations.

DuckDB lets one process at a time open a file. Every labelgate process (the app, each CLI
command) therefore takes a turn (`labelgate.store.turns`) before it opens the file, and closes
the file and gives the turn back when its unit of work ends. Within a process, units of work
that overlap share one open of the file, each through its own cursor. The app (`linger` > 0)
keeps the file open between clicks only while no other process waits; once one does, it lets the
units of work already running finish -- after its own turn has lasted at least `MIN_TURN`
seconds, so that a queue of expert answers is not served one per turn -- and hands the file over.
A command does the same with `COMMAND_TURN`, so that its units of work share a few turns.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import duckdb

from labelgate.store.turns import Turns, TurnTimeout

DEFAULT_DB_PATH = Path(__file__).resolve().parents[2] / "data" / "labelgate.duckdb"

# The shortest turn a process keeps once another waits: long enough to serve the answers that
# queued up meanwhile in one open of the file, short enough that the other waits little.
MIN_TURN = 0.15
# A command's turn (labelgate.cli): a read command such as `gate evaluate` makes ~15 short units of
# work with computation between them; taking the turn anew for each, behind the app's turn, made
# it wait ~15 times beside busy experts. It keeps the file across units for up to this long once the
# app waits (experts then wait at most this plus the unit running), and never while nobody does.
COMMAND_TURN = 0.5
_WATCH_EVERY = 0.005  # how often a lingering process looks for another one waiting


class DatabaseBusyError(RuntimeError):
    """Another process held the database file for longer than the lock timeout."""


class DatabaseFileError(RuntimeError):
    """The file is not a database this release can use (damaged, newer, or not labelgate's)."""


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


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


class _File:
    """This process's state for one database file: its open connection, users, and turn."""

    def __init__(self, path: Path):
        self.path = path
        self.turns = Turns(path)
        self.cond = threading.Condition()
        self.con: duckdb.DuckDBPyConnection | None = None
        self.users = 0
        self.opening = False
        self.draining = False        # another process waits: no new unit of work joins this open
        self.turn_started = 0.0
        self.idle_since = 0.0
        self.linger = 0.0
        self.min_turn = MIN_TURN
        self.watcher: threading.Thread | None = None
        self.migrated: tuple | None = None   # identity of the file last migrated (a restore changes it)
        self.held = threading.local()        # units of work this thread holds (nested ones always join)

    # -- with self.cond held ------------------------------------------------------------------
    def _close(self) -> None:
        con, self.con = self.con, None
        self.draining = False
        try:
            con.close()
        finally:
            self.turns.release()
            self.cond.notify_all()

    def _should_drain(self) -> bool:
        return (time.monotonic() - self.turn_started >= self.min_turn) and self.turns.others_waiting()

    def _watch(self) -> None:
        """While the file is open: hand it over as soon as another process waits (or the linger ends)."""
        while True:
            with self.cond:
                if self.con is None:
                    self.watcher = None
                    return
                if not self.draining and self._should_drain():
                    self.draining = True
                if self.users == 0 and (self.draining or time.monotonic() - self.idle_since >= self.linger):
                    self._close()
                    self.watcher = None
                    return
            time.sleep(_WATCH_EVERY)

    # -- units of work ------------------------------------------------------------------------
    def enter(self, db: Database) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + db.lock_timeout
        with self.cond:
            while True:
                if self.con is not None and getattr(self.held, "depth", 0) > 0:
                    break  # nested in a unit of work of this thread: it must not wait for itself
                if self.con is not None and not self.draining:
                    if not self._should_drain():
                        break
                    self.draining = True
                    if self.users == 0:
                        self._close()
                    continue
                if self.con is None and not self.opening:
                    self.opening = True
                    return self._open_and_join(db, deadline)
                if not self.cond.wait(timeout=max(0.0, deadline - time.monotonic())) \
                        and time.monotonic() >= deadline:
                    raise _busy(db)
            self.users += 1
            self.held.depth = getattr(self.held, "depth", 0) + 1
            return self.con

    def _open_and_join(self, db: Database, deadline: float) -> duckdb.DuckDBPyConnection:
        """With self.cond held and `opening` set: take the turn, open the file, be its first user."""
        self.cond.release()
        try:
            con = self._open(db, deadline)
        except BaseException:
            self.cond.acquire()
            self.opening = False
            self.cond.notify_all()
            raise
        self.cond.acquire()
        self.con, self.opening, self.users = con, False, 1
        self.held.depth = getattr(self.held, "depth", 0) + 1
        self.turn_started = time.monotonic()
        self.linger = db.linger
        self.min_turn = db.min_turn
        if self.watcher is None and db.linger > 0:
            self.watcher = threading.Thread(target=self._watch, name="labelgate-db-turn", daemon=True)
            self.watcher.start()
        self.cond.notify_all()
        return con

    def leave(self) -> None:
        with self.cond:
            self.held.depth -= 1
            self.users -= 1
            if self.users > 0:
                return
            self.idle_since = time.monotonic()
            if self.watcher is None or self.draining:
                self._close()
            self.cond.notify_all()

    def _open(self, db: Database, deadline: float) -> duckdb.DuckDBPyConnection:
        try:
            self.turns.acquire(max(0.0, deadline - time.monotonic()))
        except TurnTimeout:
            raise _busy(db) from None
        try:
            con = _connect(db, deadline)
            try:
                if self.migrated is None or _file_id(self.path) != self.migrated:
                    if _removed_secrets(con, apply_migrations(con, self.path)):
                        con = _rewrite(con, db, deadline)
                    self.migrated = _file_id(self.path)
            except BaseException:
                con.close()
                raise
            return con
        except BaseException:
            self.turns.release()
            raise

    @contextmanager
    def turn_closed(self, db: Database) -> Iterator[None]:
        """This process's turn with the file closed in every process (to replace the file)."""
        deadline = time.monotonic() + db.lock_timeout
        with self.cond:
            while self.con is not None or self.opening:
                if self.con is not None:
                    self.draining = True
                    if self.users == 0:
                        self._close()
                        continue
                if not self.cond.wait(timeout=max(0.0, deadline - time.monotonic())) \
                        and time.monotonic() >= deadline:
                    raise _busy(db)
            self.opening = True
        try:
            try:
                self.turns.acquire(max(0.0, deadline - time.monotonic()))
            except TurnTimeout:
                raise _busy(db) from None
            try:
                yield
            finally:
                self.migrated = None
                self.turns.release()
        finally:
            with self.cond:
                self.opening = False
                self.cond.notify_all()

    def close_if_idle(self) -> None:
        with self.cond:
            if self.con is not None and self.users == 0:
                self._close()


_files: dict[str, _File] = {}
_files_lock = threading.Lock()


def _file(path: Path) -> _File:
    key = str(path.resolve())
    with _files_lock:
        if key not in _files:
            _files[key] = _File(Path(key))
        return _files[key]


@atexit.register
def _close_all() -> None:
    """At exit, close what a linger left open (checkpointing the file)."""
    for f in list(_files.values()):
        f.close_if_idle()


def _busy(db: Database) -> DatabaseBusyError:
    return DatabaseBusyError(
        f"The database {db.path} is in use by another process (the app or another labelgate command) "
        f"and stayed busy for {db.lock_timeout:.0f} s. Try again when that work has finished.")


def _connect(db: Database, deadline: float) -> duckdb.DuckDBPyConnection:
    """Open the file, holding the turn. A process outside the turns (the duckdb shell, an older
    labelgate) may still hold it: that is retried until the deadline."""
    delay = 0.01
    while True:
        try:
            return duckdb.connect(str(db.path))
        except duckdb.IOException as exc:
            if not _is_lock_error(exc):
                raise _unusable(db.path, exc) from None
            if time.monotonic() >= deadline:
                raise _busy(db) from exc
            time.sleep(delay)
            delay = min(delay * 2, 0.25)
        except duckdb.Error as exc:
            raise _unusable(db.path, exc) from None


# Migrations that remove a secret from stored rows. DuckDB leaves an updated value's old bytes in
# the file's unused space (a CHECKPOINT does not overwrite them), so after one of these changed a
# row the file is rewritten: every table copied into a fresh file that replaces it.
SECRET_MIGRATIONS = ("0013_base_url_secrets",)


def _removed_secrets(con: duckdb.DuckDBPyConnection, applied: list[str]) -> bool:
    names = [n for n in applied if n in SECRET_MIGRATIONS]
    if not names:
        return False
    q = f"SELECT count(*) FROM migration_notes WHERE migration IN ({', '.join('?' * len(names))})"
    return con.execute(q, names).fetchone()[0] > 0


def _rewrite(con: duckdb.DuckDBPyConnection, db: Database, deadline: float) -> duckdb.DuckDBPyConnection:
    """Copy every table, view, sequence and index into a fresh file and put it in place of the open
    one (in this process's turn, so no other process has it open); return a connection to it."""
    fresh = db.path.with_name(f".{db.path.name}.rewrite")
    fresh.unlink(missing_ok=True)
    name = con.execute("SELECT current_database()").fetchone()[0]
    con.execute("CHECKPOINT")
    con.execute(f"ATTACH '{str(fresh).replace(chr(39), chr(39) * 2)}' AS lg_fresh")
    try:
        con.execute(f'COPY FROM DATABASE "{name}" TO lg_fresh')
        con.execute("CHECKPOINT lg_fresh")
        con.execute("DETACH lg_fresh")
        con.close()
        with open(fresh, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(fresh, db.path)
    finally:
        fresh.unlink(missing_ok=True)
    return _connect(db, deadline)


def _unusable(path: Path, exc: Exception) -> DatabaseFileError:
    return DatabaseFileError(f"{path} is not a usable DuckDB database file (damaged, truncated or another "
                             f"kind of file): {str(exc).splitlines()[0][:200]}")


class Database:
    """Handle on one DuckDB file; cheap to create, opens the file only inside `connect()`."""

    def __init__(self, path: str | os.PathLike | None = None, *, lock_timeout: float = 30.0, linger: float = 0.0,
                 min_turn: float = MIN_TURN):
        self.path = Path(path) if path is not None else default_db_path()
        self.lock_timeout = lock_timeout
        self.linger = linger
        self.min_turn = min_turn

    def __repr__(self) -> str:
        return f"Database({str(self.path)!r})"

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor on the file, opened in this process's turn (and migrated) if need be.

        Units of work that overlap in this process share one open of the file, each through
        its own cursor (thread-safe). The file is closed when the last one ends -- or, with
        `linger` > 0 (the app), up to that many seconds later unless another process waits, so
        that one page run or one label answer opens the file once instead of once per query.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = _file(self.path)
        root = f.enter(self)
        try:
            cur = root.cursor()
            try:
                yield cur
            finally:
                cur.close()
        finally:
            f.leave()

    def close(self) -> None:
        """Close this process's open of the file now if nothing uses it (e.g. before copying it)."""
        _file(self.path).close_if_idle()

    @contextmanager
    def turn_closed(self) -> Iterator[None]:
        """Hold the turn with the file closed everywhere, so that it may be replaced (a restore)."""
        with _file(self.path).turn_closed(self):
            yield

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


def check_schema(con: duckdb.DuckDBPyConnection, path: str | os.PathLike = "the database") -> set[str]:
    """The migrations recorded in the file; raises DatabaseFileError if this release cannot use it.

    A file with tables but no migration record is not a labelgate database, and one that records
    a migration this release does not know was written by a newer release: serving it would
    fail later, on a write, with the expert's answer lost.
    """
    tables = {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()").fetchall()}
    if "schema_migrations" not in tables:
        if tables:
            raise DatabaseFileError(f"{path} is a DuckDB file but not a labelgate database "
                                    f"(it has tables such as {sorted(tables)[0]!r} and no schema_migrations).")
        return set()
    done = {row[0] for row in con.execute("SELECT name FROM schema_migrations").fetchall()}
    unknown = sorted(done - {name for name, _ in migration_files()})
    if unknown:
        raise DatabaseFileError(f"{path} was written by a newer release of labelgate (its schema has "
                                f"{unknown[-1]}, which this release does not know): upgrade labelgate to open it.")
    return done


def apply_migrations(con: duckdb.DuckDBPyConnection, path: str | os.PathLike = "the database") -> list[str]:
    """Apply every migration not yet recorded, each in the transaction that records it."""
    done = check_schema(con, path)
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
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
