"""Student previews recorded as gate evidence (migration 0020). Append-only: inserts and reads."""

from __future__ import annotations

import json
import math

from labelgate.store.db import Database, fetch_one


def _json(value) -> str:
    """JSON text with NaN as null (DuckDB's JSON type refuses NaN) and numpy numbers as floats."""
    def clean(v):
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, (str, bool, int)) or v is None:
            return v
        try:
            f = float(v)
        except (TypeError, ValueError):
            return str(v)
        return None if math.isnan(f) else f
    return json.dumps(clean(value), allow_nan=False)


def record_preview(db: Database, *, task_id: int, labeler: str, labeler_version: str, gold_version: str,
                   gold_name: str, settings: dict, metrics: dict, report: dict, created_by: str) -> int:
    """Append one recorded preview; returns its id."""
    with db.transaction() as con:
        (preview_id,) = fetch_one(
            con,
            "INSERT INTO student_previews (task_id, labeler, labeler_version, gold_version, gold_name, settings,"
            " metrics, report, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING preview_id",
            [task_id, labeler, labeler_version, gold_version, gold_name, _json(settings), _json(metrics),
             _json(report), created_by])
    return preview_id


def latest_preview(db: Database, task_id: int, labeler: str) -> dict | None:
    """The labeler's latest recorded preview (any version), without its full report; None if never recorded."""
    with db.connect() as con:
        row = con.execute(
            "SELECT preview_id, labeler_version, gold_version, gold_name, settings, metrics, created_by, created_at"
            " FROM student_previews WHERE task_id = ? AND labeler = ? ORDER BY preview_id DESC LIMIT 1",
            [task_id, labeler]).fetchone()
    if row is None:
        return None
    keys = ("preview_id", "labeler_version", "gold_version", "gold_name", "settings", "metrics", "created_by",
            "created_at")
    out = dict(zip(keys, row, strict=True))
    out["settings"], out["metrics"] = json.loads(out["settings"]), json.loads(out["metrics"])
    return out
