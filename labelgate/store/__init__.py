"""The only place that issues SQL. Every function takes a `Database` first."""

from labelgate.store.db import Database, DatabaseBusyError, DatabaseFileError, default_db_path

__all__ = ["Database", "DatabaseBusyError", "DatabaseFileError", "default_db_path"]
