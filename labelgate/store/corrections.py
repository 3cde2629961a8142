"""Fitted corrections of labeler versions: appended, the latest per labeler version is current."""

from __future__ import annotations

import json

from labelgate.store.db import Database, fetch_one


def save_correction(db: Database, *, task_id: int, labeler: str, labeler_version: str, method: str, params: dict,
                    gold_version: str, n_fit: int, cv_metrics: list[dict] | None, created_by: str) -> int:
    with db.transaction() as con:
        (cid,) = fetch_one(
            con,
            "INSERT INTO corrections (task_id, labeler, labeler_version, method, params, gold_version, n_fit,"
            " cv_metrics, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING correction_id",
            [task_id, labeler, labeler_version, method, json.dumps(params), gold_version, n_fit,
             json.dumps(cv_metrics) if cv_metrics is not None else None, created_by])
    return cid


def current_correction(db: Database, task_id: int, labeler: str, labeler_version: str) -> dict | None:
    """The latest correction of this labeler version (params decoded), or None."""
    with db.connect() as con:
        df = con.execute(
            "SELECT * FROM corrections WHERE task_id = ? AND labeler = ? AND labeler_version = ?"
            " ORDER BY correction_id DESC LIMIT 1", [task_id, labeler, labeler_version]).df()
    if df.empty:
        return None
    row = df.iloc[0].to_dict()
    row["params"] = json.loads(row["params"])
    row["cv_metrics"] = json.loads(row["cv_metrics"]) if row["cv_metrics"] else None
    return row
