"""A task's governed settings as numbered versions, and the audit of every change (migration 0010).

Append-only like the rest of the gate's tables: a save inserts the next version of a setting and
one change row per value it changed; nothing is updated or deleted. The latest version is the
setting in force; no version means the defaults.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb
import pandas as pd

from labelgate.store.db import Database, fetch_one

SETTINGS = ("gate_criteria", "monitor_thresholds", "human_share")


@dataclass(frozen=True)
class SettingVersion:
    version: int
    value: object
    changed_by: str
    changed_by_role: str
    changed_at: pd.Timestamp


class StaleSettingError(ValueError):
    """Someone saved the setting since the version the caller loaded."""

    def __init__(self, setting: str, loaded: int, current: SettingVersion | None):
        self.setting, self.loaded, self.current = setting, loaded, current
        who = (f"{current.changed_by} saved version {current.version} on {current.changed_at:%Y-%m-%d %H:%M:%S}"
               if current else "they were saved again")
        super().__init__(f"Not saved: {who} after you loaded version {loaded}. Load the saved values, "
                         f"look at them, and make your change again.")


def _check(setting: str) -> None:
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {', '.join(SETTINGS)}; got {setting!r}")


def _row(r) -> SettingVersion:
    return SettingVersion(int(r[0]), json.loads(r[1]), r[2], r[3], pd.Timestamp(r[4]))


_COLS = "version, value, changed_by, changed_by_role, changed_at"


def latest(db: Database, task_id: int, setting: str) -> SettingVersion | None:
    """The version in force, or None when the task uses the defaults."""
    _check(setting)
    with db.connect() as con:
        r = fetch_one(con, f"SELECT {_COLS} FROM setting_versions WHERE task_id = ? AND setting = ?"
                           " ORDER BY version DESC LIMIT 1", [task_id, setting])
    return _row(r) if r else None


def history(db: Database, task_id: int, setting: str) -> list[SettingVersion]:
    """Every saved version of the setting, oldest first."""
    _check(setting)
    with db.connect() as con:
        rows = con.execute(f"SELECT {_COLS} FROM setting_versions WHERE task_id = ? AND setting = ?"
                           " ORDER BY version", [task_id, setting]).fetchall()
    return [_row(r) for r in rows]


def save(db: Database, task_id: int, setting: str, value, *, expected_version: int,
         changes: list[tuple[str, object, object]], changed_by: str, changed_by_role: str) -> int:
    """Save `value` as version expected_version + 1 with its change rows; returns the new version.

    Raises StaleSettingError when the latest version is not `expected_version` -- checked in the
    transaction, and enforced by the primary key when two saves race past the check.
    """
    _check(setting)
    version = expected_version + 1
    try:
        with db.transaction() as con:
            (now,) = fetch_one(con, "SELECT coalesce(max(version), 0) FROM setting_versions"
                                    " WHERE task_id = ? AND setting = ?", [task_id, setting])
            if now != expected_version:
                raise StaleSettingError(setting, expected_version, None)
            con.execute("INSERT INTO setting_versions (task_id, setting, version, value, changed_by, changed_by_role)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        [task_id, setting, version, json.dumps(value), changed_by, changed_by_role])
            for name, old, new in changes:
                con.execute("INSERT INTO setting_changes (task_id, setting, version, name, old_value, new_value,"
                            " changed_by, changed_by_role) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            [task_id, setting, version, name, json.dumps(old), json.dumps(new), changed_by,
                             changed_by_role])
    except (StaleSettingError, duckdb.ConstraintException, duckdb.TransactionException) as exc:
        raise StaleSettingError(setting, expected_version, latest(db, task_id, setting)) from exc
    return version


def changes(db: Database, task_id: int, *, limit: int = 500) -> pd.DataFrame:
    """The task's setting changes, newest first; old_value and new_value decoded from JSON."""
    with db.connect() as con:
        df = con.execute("SELECT changed_at, changed_by, changed_by_role, setting, version, name, old_value,"
                         " new_value FROM setting_changes WHERE task_id = ?"
                         " ORDER BY changed_at DESC, setting, version DESC, name LIMIT ?",
                         [task_id, limit]).df()
    for c in ("old_value", "new_value"):
        df[c] = df[c].map(lambda s: None if s is None or (isinstance(s, float) and pd.isna(s)) else json.loads(s))
    return df
