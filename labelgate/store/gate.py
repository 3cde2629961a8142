"""Gate criteria, monitor thresholds and the gate audit log (migration 0006).

Append-only: this module inserts and reads; it has no UPDATE or DELETE, so neither the app nor
the CLI can edit or remove an audit row. The latest row of a table is the current setting.
"""

from __future__ import annotations

import json

import pandas as pd

from labelgate.store.db import Database, fetch_one

EVENT_KINDS = ("evaluation", "approve", "refuse", "export")


def save_criteria(db: Database, task_id: int, criteria: list[dict], *, created_by: str) -> None:
    with db.transaction() as con:
        con.execute("INSERT INTO gate_criteria (task_id, criteria, created_by) VALUES (?, ?, ?)",
                    [task_id, json.dumps(criteria), created_by])


def current_criteria(db: Database, task_id: int) -> list[dict] | None:
    """The task's saved criteria (dicts), or None when none were saved."""
    with db.connect() as con:
        row = fetch_one(con, "SELECT criteria FROM gate_criteria WHERE task_id = ?"
                        " ORDER BY created_at DESC LIMIT 1", [task_id])
    return json.loads(row[0]) if row else None


def save_thresholds(db: Database, task_id: int, thresholds: dict, *, created_by: str) -> None:
    with db.transaction() as con:
        con.execute("INSERT INTO monitor_thresholds (task_id, thresholds, created_by) VALUES (?, ?, ?)",
                    [task_id, json.dumps(thresholds), created_by])


def current_thresholds(db: Database, task_id: int) -> dict | None:
    with db.connect() as con:
        row = fetch_one(con, "SELECT thresholds FROM monitor_thresholds WHERE task_id = ?"
                        " ORDER BY created_at DESC LIMIT 1", [task_id])
    return json.loads(row[0]) if row else None


def append_event(db: Database, *, task_id: int, labeler: str, kind: str, actor: str, actor_role: str,
                 labeler_version: str, task_revision: int, task_spec: str, gold_version: str,
                 correction_id: int | None, criteria: list[dict], metrics: dict, result: dict, verdict: str,
                 comment: str | None = None, forced: bool = False) -> int:
    """Append one audit row; returns its event id."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"kind must be one of {', '.join(EVENT_KINDS)}; got {kind!r}")
    with db.transaction() as con:
        (event_id,) = fetch_one(
            con,
            "INSERT INTO gate_events (task_id, labeler, kind, actor, actor_role, labeler_version, task_revision,"
            " task_spec, gold_version, correction_id, criteria, metrics, result, verdict, comment, forced)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING event_id",
            [task_id, labeler, kind, actor, actor_role, labeler_version, task_revision, task_spec, gold_version,
             correction_id, json.dumps(criteria), json.dumps(metrics), json.dumps(result), verdict, comment,
             forced])
    return event_id


_DECODE = ("criteria", "metrics", "result")


def _decode(df: pd.DataFrame) -> list[dict]:
    rows = df.to_dict("records")
    for r in rows:
        for c in _DECODE:
            r[c] = json.loads(r[c])
        if pd.isna(r.get("correction_id")):
            r["correction_id"] = None
        else:
            r["correction_id"] = int(r["correction_id"])
    return rows


def latest_decision(db: Database, task_id: int, labeler: str) -> dict | None:
    """The latest approve or refuse row of a labeler (any version), decoded; None if never decided."""
    with db.connect() as con:
        df = con.execute("SELECT * FROM gate_events WHERE task_id = ? AND labeler = ? AND kind IN ('approve', 'refuse')"
                         " ORDER BY event_id DESC LIMIT 1", [task_id, labeler]).df()
    return _decode(df)[0] if not df.empty else None


def events(db: Database, task_id: int, labeler: str | None = None, *, limit: int = 500) -> pd.DataFrame:
    """Audit rows of a task (or one labeler), newest first; JSON columns left as text."""
    sql = "SELECT * FROM gate_events WHERE task_id = ?" + (" AND labeler = ?" if labeler else "")
    params = [task_id] + ([labeler] if labeler else []) + [limit]
    with db.connect() as con:
        return con.execute(sql + " ORDER BY event_id DESC LIMIT ?", params).df()
