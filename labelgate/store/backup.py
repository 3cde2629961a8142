"""Backups of the database file: a consistent copy while the app runs, and putting one back.

A plain copy of the file misses every answer still in its write-ahead log (.wal), so a backup
is taken in this process's turn (no other process has the file open), after a CHECKPOINT that
moves the log into the file; the copy is then opened and its row counts compared with the
original's before it is given its name. A restore checks the file first (a DuckDB file, a
labelgate schema this release knows, every table readable), keeps the database it replaces
beside it, and swaps the file in one rename while no process has it open.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from labelgate.store.db import Database, DatabaseFileError, _unusable, check_schema


@dataclass(frozen=True)
class Snapshot:
    path: Path
    row_counts: dict[str, int]       # every table of the file
    migrations: tuple[str, ...]

    @property
    def n_rows(self) -> int:
        return sum(self.row_counts.values())


def _tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() ORDER BY 1").fetchall()]


def _row_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchall()[0][0] for t in _tables(con)}


def _copy_durably(src: Path, dst: Path) -> None:
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
        fout.flush()
        os.fsync(fout.fileno())


def inspect(path: str | os.PathLike) -> Snapshot:
    """Open a backup read-only and check that this release can use it: a DuckDB file, a labelgate
    schema no newer than this release, every row of every table readable."""
    path = Path(path)
    if not path.is_file():
        raise DatabaseFileError(f"{path} does not exist or is not a file.")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise _unusable(path, exc) from None
    try:
        migrations = check_schema(con, path)
        if not migrations:
            raise DatabaseFileError(f"{path} is an empty DuckDB file, not a labelgate database.")
        try:
            counts = _row_counts(con)
            for table in counts:   # read every column of every row: a damaged block fails here
                con.execute(f'SELECT max(hash(COLUMNS(*))) FROM "{table}"').fetchall()
        except duckdb.Error as exc:
            raise _unusable(path, exc) from None
    finally:
        con.close()
    return Snapshot(path, counts, tuple(sorted(migrations)))


def backup(db: Database, out: str | os.PathLike) -> Snapshot:
    """Write a consistent, checkpointed copy of `db` to `out` (which must not exist yet)."""
    out = Path(out)
    if out.exists():
        raise ValueError(f"{out} already exists: name a new file for the backup")
    if out.resolve() == db.path.resolve():
        raise ValueError("the backup must be another file than the database itself")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    try:
        with db.connect() as con:   # this process's turn: nobody else has the file open
            con.execute("CHECKPOINT")
            counts = _row_counts(con)
            _copy_durably(db.path, tmp)
        copy = inspect(tmp)
        if copy.row_counts != counts:
            raise RuntimeError(f"the copy's row counts differ from the database's: {copy.row_counts} != {counts}")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return Snapshot(out, copy.row_counts, copy.migrations)


def restore(db: Database, source: str | os.PathLike) -> tuple[Snapshot, Path | None]:
    """Put the backup `source` in place of `db`'s file, after checking it.

    Returns what was restored and where the replaced database was kept (None if there was none).
    Migrations newer than the backup apply at the next open, as for any older file.
    """
    snap = inspect(source)
    target = db.path
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.restoring")
    kept = None
    try:
        _copy_durably(Path(source), tmp)
        with db.turn_closed():
            wal = Path(str(target) + ".wal")
            if target.exists():
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
                kept = target.with_name(f"{target.name}.before-restore-{stamp}")
                os.replace(target, kept)
                if wal.exists():   # the log belongs to the replaced file, never to the restored one
                    os.replace(wal, Path(str(kept) + ".wal"))
            os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    with db.connect():   # applies the migrations this release has and the backup lacks
        pass
    return snap, kept
