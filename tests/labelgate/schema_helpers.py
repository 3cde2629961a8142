"""A database file as an earlier release made it, for the tests that open one with this release."""

from __future__ import annotations

import duckdb

from labelgate.store.db import migration_files


def schema_before(path, first_missing: str) -> duckdb.DuckDBPyConnection:
    """Open a new file at `path` holding every migration before `first_missing` (e.g. "0025"), recorded as
    applied; the caller adds its rows and closes it."""
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL"
                " DEFAULT now())")
    for name, sql in migration_files():
        if name >= first_missing:
            break
        con.execute(sql)
        con.execute("INSERT INTO schema_migrations (name) VALUES (?)", [name])
    return con
