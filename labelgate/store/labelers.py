"""Labeler versions: appended, never edited; the latest per (task, name) is current."""

from __future__ import annotations

import pandas as pd

from labelgate.labelers import LabelerConfig, without_secrets
from labelgate.store.db import Database, fetch_one

_COLUMNS = (
    "name",
    "provider",
    "model",
    "family",
    "base_url",
    "prompt_template",
    "temperature",
    "max_tokens",
    "n_samples",
    "both_orders",
    "api_key_env",
    "per_criterion",
)


def save_labeler(db: Database, task_id: int, config: LabelerConfig, *, created_by: str | None = None) -> str:
    """Record `config` as the labeler's current version (a no-op if it already is); return the version."""
    version = config.version
    with db.transaction() as con:
        current = fetch_one(
            con,
            "SELECT version, family, api_key_env FROM labeler_versions WHERE task_id = ? AND name = ?"
            " ORDER BY created_at DESC, rowid DESC LIMIT 1",
            [task_id, config.name],
        )
        if current == (version, config.family, config.api_key_env):
            return version
        con.execute(
            f"INSERT INTO labeler_versions (task_id, version, created_by, {', '.join(_COLUMNS)})"
            f" VALUES (?, ?, ?, {', '.join('?' * len(_COLUMNS))})",
            [task_id, version, created_by, *(getattr(config, c) for c in _COLUMNS)],
        )
    return version


_LATEST = """
    SELECT * EXCLUDE (rn) FROM (
        SELECT *, row_number() OVER (PARTITION BY task_id, name ORDER BY created_at DESC, rowid DESC) AS rn
        FROM labeler_versions WHERE task_id = ?
    ) WHERE rn = 1
"""


def _config(row: dict) -> LabelerConfig:
    # SQL NULLs arrive from DataFrames as NaN, which is truthy: make them None again
    values = {c: (None if not isinstance(row[c], str) and pd.isna(row[c]) else row[c]) for c in _COLUMNS}
    if values["base_url"]:  # a row saved before secrets in base URLs were refused is never used or shown with one
        values["base_url"] = without_secrets(values["base_url"])
    return LabelerConfig(**values)


def current_labelers(db: Database, task_id: int) -> list[LabelerConfig]:
    """The current version of every labeler of a task, by name."""
    with db.connect() as con:
        df = con.execute(_LATEST + " ORDER BY name", [task_id]).df()
    return [_config(r) for r in df.to_dict("records")]


def get_labeler(db: Database, task_id: int, name: str) -> LabelerConfig:
    with db.connect() as con:
        df = con.execute(_LATEST + " AND name = ?", [task_id, name]).df()
    if df.empty:
        known = [c.name for c in current_labelers(db, task_id)]
        raise LookupError(
            f"no labeler named {name!r} for this task"
            + (f"; known labelers: {', '.join(known)}" if known else "")
        )
    return _config(df.iloc[0].to_dict())


def labeler_history(db: Database, task_id: int, name: str) -> pd.DataFrame:
    """Every version the labeler has had, newest first."""
    with db.connect() as con:
        df = con.execute(
            "SELECT * FROM labeler_versions WHERE task_id = ? AND name = ? ORDER BY created_at DESC, rowid DESC",
            [task_id, name],
        ).df()
    df["base_url"] = [without_secrets(u) if isinstance(u, str) and u else u for u in df["base_url"]]
    return df


def current_versions(db: Database, task_id: int) -> pd.DataFrame:
    """name, version (as stored: authoritative, never recomputed), family, provider, model per labeler."""
    with db.connect() as con:
        return con.execute("SELECT name, version, family, provider, model FROM (" + _LATEST + ") ORDER BY name",
                           [task_id]).df()
