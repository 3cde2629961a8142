"""The gate audit log (migration 0006; criteria and thresholds moved to labelgate/store/settings.py).

Append-only: this module inserts and reads; it has no UPDATE or DELETE, so neither the app nor
the CLI can edit or remove an audit row.
"""

from __future__ import annotations

import json

import pandas as pd

from labelgate.store.db import Database, fetch_one

EVENT_KINDS = ("evaluation", "approve", "refuse", "export")


def append_event(db: Database, *, task_id: int, labeler: str, kind: str, actor: str, actor_role: str,
                 labeler_version: str, task_revision: int, task_spec: str, gold_version: str,
                 correction_id: int | None, criteria: list[dict], metrics: dict, result: dict, verdict: str,
                 comment: str | None = None, forced: bool = False, gold_release: int | None = None) -> int:
    """Append one audit row; returns its event id."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"kind must be one of {', '.join(EVENT_KINDS)}; got {kind!r}")
    with db.transaction() as con:
        (event_id,) = fetch_one(
            con,
            "INSERT INTO gate_events (task_id, labeler, kind, actor, actor_role, labeler_version, task_revision,"
            " task_spec, gold_version, correction_id, criteria, metrics, result, verdict, comment, forced,"
            " gold_release) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING event_id",
            [task_id, labeler, kind, actor, actor_role, labeler_version, task_revision, task_spec, gold_version,
             correction_id, json.dumps(criteria), json.dumps(metrics), json.dumps(result), verdict, comment,
             forced, gold_release])
    return event_id


_DECODE = ("criteria", "metrics", "result")


def _decode(df: pd.DataFrame) -> list[dict]:
    rows = df.to_dict("records")
    for r in rows:
        for c in _DECODE:
            r[c] = json.loads(r[c])
        for c in ("correction_id", "gold_release"):
            r[c] = None if pd.isna(r.get(c)) else int(r[c])
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
