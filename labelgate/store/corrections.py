"""Fitted corrections of labeler versions: appended, the latest per labeler version is current."""

from __future__ import annotations

import json

import pandas as pd

from labelgate.store.db import Database, fetch_one
from labelgate.tasks import DEFAULT_CRITERION


def save_correction(db: Database, *, task_id: int, labeler: str, labeler_version: str, method: str, params: dict,
                    gold_version: str, n_fit: int, cv_metrics: list[dict] | None, created_by: str,
                    gold_release: int | None = None, criterion: str = DEFAULT_CRITERION) -> int:
    """Append a correction of `criterion`'s labels fitted on gold `gold_version` of release `gold_release`
    (None: the draft)."""
    with db.transaction() as con:
        (cid,) = fetch_one(
            con,
            "INSERT INTO corrections (task_id, labeler, labeler_version, method, params, gold_version, n_fit,"
            " cv_metrics, created_by, gold_release, criterion) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " RETURNING correction_id",
            [task_id, labeler, labeler_version, method, json.dumps(params), gold_version, n_fit,
             json.dumps(cv_metrics) if cv_metrics is not None else None, created_by, gold_release, criterion])
    return cid


def latest_correction_id(db: Database, task_id: int, labeler: str, labeler_version: str) -> int | None:
    """The newest correction of this labeler version on any criterion (corrections are only appended,
    so a new one on any criterion of a task changes it): what a gate approval is given with."""
    with db.connect() as con:
        row = fetch_one(con, "SELECT max(correction_id) FROM corrections WHERE task_id = ? AND labeler = ?"
                             " AND labeler_version = ?", [task_id, labeler, labeler_version])
    return None if row is None or row[0] is None else int(row[0])


def current_correction(db: Database, task_id: int, labeler: str, labeler_version: str, *,
                       criterion: str = DEFAULT_CRITERION) -> dict | None:
    """The latest correction of this labeler version's labels of `criterion` (params decoded), or None."""
    with db.connect() as con:
        df = con.execute(
            "SELECT * FROM corrections WHERE task_id = ? AND labeler = ? AND labeler_version = ? AND criterion = ?"
            " ORDER BY correction_id DESC LIMIT 1", [task_id, labeler, labeler_version, criterion]).df()
    if df.empty:
        return None
    row = df.iloc[0].to_dict()
    row["params"] = json.loads(row["params"])
    row["cv_metrics"] = json.loads(row["cv_metrics"]) if row["cv_metrics"] else None
    row["gold_release"] = None if pd.isna(row["gold_release"]) else int(row["gold_release"])
    return row


def list_corrections(db: Database, task_id: int, *, labeler: str | None = None,
                     criterion: str | None = None) -> list[dict]:
    """Every saved correction of the task (optionally of one labeler and criterion), newest first, params and
    cv_metrics decoded."""
    sql, args = "SELECT * FROM corrections WHERE task_id = ?", [task_id]
    if labeler is not None:
        sql, args = sql + " AND labeler = ?", [*args, labeler]
    if criterion is not None:
        sql, args = sql + " AND criterion = ?", [*args, criterion]
    with db.connect() as con:
        df = con.execute(sql + " ORDER BY correction_id DESC", args).df()
    out = []
    for row in df.to_dict("records"):
        row["params"] = json.loads(row["params"])
        row["cv_metrics"] = json.loads(row["cv_metrics"]) if row["cv_metrics"] else None
        row["gold_release"] = None if pd.isna(row["gold_release"]) else int(row["gold_release"])
        out.append(row)
    return out
