"""LLM runs: item batches, runs, the call ledger (also the response cache) and per-run outcomes.

Every statement on the tables of migration 0002 lives here. The runner never holds the file
open during a run: it calls `flush_run` every couple of seconds, one short transaction each.
"""

from __future__ import annotations

import json

import pandas as pd

from labelgate.labelers import LabelerConfig
from labelgate.store.db import Database
from labelgate.store.labelers import _COLUMNS as _LABELER_COLUMNS

STALE_AFTER_SECONDS = 120   # a 'running' run without a heartbeat for this long shows as interrupted
RESERVED_BATCHES = ("calibration", "anchor")

CALL_COLUMNS = ("call_id", "run_id", "task_id", "labeler", "version", "task_spec", "cache_scope", "item_id",
                "content_hash", "sample_index", "shown_order", "status", "value", "value_num", "raw_label",
                "confidence", "confidence_source", "conf_verbalized", "conf_logprob", "raw_response",
                "tokens_in", "tokens_out", "latency_ms", "cost_usd", "attempts", "error", "criterion", "rationale")
_CALL_TYPES = {"run_id": "INTEGER", "task_id": "INTEGER", "sample_index": "INTEGER", "value_num": "DOUBLE",
               "confidence": "DOUBLE", "conf_verbalized": "DOUBLE", "conf_logprob": "DOUBLE",
               "tokens_in": "INTEGER", "tokens_out": "INTEGER", "latency_ms": "DOUBLE", "cost_usd": "DOUBLE",
               "attempts": "INTEGER"}
RUN_ITEM_COLUMNS = ("run_id", "item_id", "batch", "sample_index", "shown_order", "outcome", "call_id", "error",
                    "criterion")
LABEL_COLUMNS = ("task_id", "item_id", "labeler", "version", "batch", "sample_index", "shown_order", "value",
                 "value_num", "confidence", "criterion", "rationale")
COUNTERS = ("n_labeled", "n_failed", "n_cached", "n_requests", "tokens_in", "tokens_out", "cost_usd")


def _select_cast(columns, types=None) -> str:
    types = types or {}
    return ", ".join(f"{c}::{types.get(c, 'VARCHAR')}" for c in columns)


def check_batch_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValueError("a batch needs a name")
    if name in RESERVED_BATCHES or ":" in name:
        raise ValueError(f"batch name {name!r} is reserved or contains ':'; "
                         "calibration, anchor and names with ':' are used for sets and anchor re-labels")
    return name


# -- item batches ------------------------------------------------------------------------------
def create_item_batch(db: Database, task_id: int, name: str, item_ids, *, created_by: str | None = None) -> int:
    """Record a named batch of existing items (in the given order); returns its size."""
    name = check_batch_name(name)
    ids = list(dict.fromkeys(str(i) for i in item_ids))
    if not ids:
        raise ValueError(f"batch {name!r} has no items")
    frame = pd.DataFrame({"item_id": pd.Series(ids, dtype=object), "position": range(len(ids))})
    with db.transaction() as con:
        if con.execute("SELECT 1 FROM item_batches WHERE task_id = ? AND batch = ? LIMIT 1",
                       [task_id, name]).fetchone():
            raise ValueError(f"a batch named {name!r} already exists for this task")
        con.register("frame", frame)
        missing = [r[0] for r in con.execute(
            "SELECT f.item_id FROM frame f LEFT JOIN items i ON i.task_id = ? AND i.item_id = f.item_id"
            " WHERE i.item_id IS NULL ORDER BY f.position LIMIT 5", [task_id]).fetchall()]
        if missing:
            raise ValueError(f"batch {name!r} names items the task does not have: {', '.join(missing)}")
        con.execute("INSERT INTO item_batches (task_id, batch, item_id, position, created_by)"
                    " SELECT ?, ?, item_id, position, ? FROM frame", [task_id, name, created_by])
    return len(ids)


def batch_items(db: Database, task_id: int, name: str) -> list[str]:
    with db.connect() as con:
        rows = con.execute("SELECT item_id FROM item_batches WHERE task_id = ? AND batch = ? ORDER BY position",
                           [task_id, name]).fetchall()
        if not rows:
            known = [r[0] for r in con.execute("SELECT DISTINCT batch FROM item_batches WHERE task_id = ?"
                                               " ORDER BY batch", [task_id]).fetchall()]
            raise LookupError(f"no batch named {name!r}"
                              + (f"; known batches: {', '.join(known)}" if known else "; there are no batches yet"))
    return [r[0] for r in rows]


def list_item_batches(db: Database, task_id: int) -> pd.DataFrame:
    with db.connect() as con:
        return con.execute("SELECT batch, count(*) AS n_items, min(created_at) AS created_at,"
                           " any_value(created_by) AS created_by FROM item_batches WHERE task_id = ?"
                           " GROUP BY batch ORDER BY created_at", [task_id]).df()


# -- labeler versions --------------------------------------------------------------------------
def labeler_at_version(db: Database, task_id: int, name: str, version: str) -> LabelerConfig:
    """The configuration a labeler had at `version` (to resume a run exactly as it started)."""
    cols = ", ".join(_LABELER_COLUMNS)
    with db.connect() as con:
        row = con.execute(f"SELECT {cols} FROM labeler_versions WHERE task_id = ? AND name = ? AND version = ?"
                          " ORDER BY created_at DESC LIMIT 1", [task_id, name, version]).fetchone()
    if row is None:
        raise LookupError(f"labeler {name!r} has no version {version}")
    return LabelerConfig(**dict(zip(_LABELER_COLUMNS, row, strict=True)))


# -- runs --------------------------------------------------------------------------------------
def create_run(db: Database, *, task_id: int, labeler: str, version: str, item_set: str, batch: str,
               n_items: int, n_calls: int, options: dict, parent_run_id: int | None = None,
               started_by: str | None = None) -> int:
    with db.transaction() as con:
        (run_id,) = con.execute(
            "INSERT INTO llm_runs (task_id, labeler, version, item_set, batch, parent_run_id, status, n_items,"
            " n_calls, options, started_by) VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?) RETURNING run_id",
            [task_id, labeler, version, item_set, batch, parent_run_id, n_items, n_calls, json.dumps(options),
             started_by]).fetchone()
    return run_id


def load_cache(db: Database, task_id: int, version: str, task_spec: str, keys: pd.DataFrame, *,
               criterion: str) -> pd.DataFrame:
    """Answered calls (status ok or invalid) of `criterion` for the (content_hash, cache_scope) pairs in `keys`.

    One row per cache key (content_hash, cache_scope, sample_index, shown_order): the latest
    'ok' answer if there is one, else the latest 'invalid' one.
    """
    wanted = keys[["content_hash", "cache_scope"]].drop_duplicates().astype(object)
    with db.connect() as con:
        con.register("wanted", wanted)
        return con.execute(
            "SELECT * EXCLUDE (rn) FROM ("
            " SELECT c.*, row_number() OVER (PARTITION BY c.content_hash, c.cache_scope, c.sample_index,"
            "   c.shown_order ORDER BY (c.status = 'ok') DESC, c.created_at DESC) AS rn"
            " FROM llm_calls c JOIN wanted w ON c.content_hash = w.content_hash AND c.cache_scope = w.cache_scope"
            " WHERE c.task_id = ? AND c.version = ? AND c.task_spec = ? AND c.criterion = ?"
            "  AND c.status IN ('ok', 'invalid')"
            ") WHERE rn = 1", [task_id, version, task_spec, criterion]).df()


def flush_run(db: Database, run_id: int, *, calls: list[dict], run_items: list[dict], labels: list[dict],
              counters: dict) -> None:
    """Append a batch of results and refresh the run's counters, in one short transaction.

    LLM labels are inserted only where no 'run' label exists yet for the same (task, item, labeler,
    version, batch, sample, order): re-runs, resumes and retries never duplicate a label.
    """
    with db.transaction() as con:
        if calls:
            frame = pd.DataFrame(calls).reindex(columns=list(CALL_COLUMNS)).astype(object)
            con.register("calls_frame", frame)
            con.execute(f"INSERT INTO llm_calls ({', '.join(CALL_COLUMNS)})"
                        f" SELECT {_select_cast(CALL_COLUMNS, _CALL_TYPES)} FROM calls_frame")
            con.unregister("calls_frame")
        if run_items:
            frame = pd.DataFrame(run_items).reindex(columns=list(RUN_ITEM_COLUMNS)).astype(object)
            con.register("items_frame", frame)
            con.execute(f"INSERT INTO llm_run_items ({', '.join(RUN_ITEM_COLUMNS)})"
                        f" SELECT {_select_cast(RUN_ITEM_COLUMNS, {'run_id': 'INTEGER', 'sample_index': 'INTEGER'})}"
                        " FROM items_frame")
            con.unregister("items_frame")
        if labels:
            frame = pd.DataFrame(labels).reindex(columns=list(LABEL_COLUMNS)).astype(object)
            con.register("labels_frame", frame)
            types = {"task_id": "INTEGER", "sample_index": "INTEGER", "value_num": "DOUBLE", "confidence": "DOUBLE"}
            con.execute(
                f"INSERT INTO llm_labels ({', '.join(LABEL_COLUMNS)}, source)"
                f" SELECT {_select_cast(LABEL_COLUMNS, types)}, 'run' FROM labels_frame f WHERE NOT EXISTS ("
                "  SELECT 1 FROM llm_labels l WHERE l.source = 'run' AND l.task_id = f.task_id::INTEGER"
                "  AND l.item_id = f.item_id::VARCHAR AND l.labeler = f.labeler::VARCHAR"
                "  AND l.version = f.version::VARCHAR AND l.batch = f.batch::VARCHAR"
                "  AND l.sample_index = f.sample_index::INTEGER AND l.criterion = f.criterion::VARCHAR"
                "  AND l.shown_order IS NOT DISTINCT FROM f.shown_order::VARCHAR)")
            con.unregister("labels_frame")
        _update_counters(con, run_id, counters)


def _update_counters(con, run_id: int, counters: dict, extra_sql: str = "", extra_params=()) -> None:
    sets = ", ".join(f"{c} = ?" for c in COUNTERS)
    con.execute(f"UPDATE llm_runs SET {sets}, heartbeat_at = now(){extra_sql} WHERE run_id = ?",
                [*(counters.get(c, 0) for c in COUNTERS), *extra_params, run_id])


def finish_run(db: Database, run_id: int, status: str, *, counters: dict, message: str | None = None) -> None:
    with db.transaction() as con:
        _update_counters(con, run_id, counters, ", status = ?, message = ?, finished_at = now()",
                         (status, message))


_RUNS = """
    SELECT run_id, task_id, labeler, version, item_set, batch, parent_run_id,
           CASE WHEN status = 'running' AND heartbeat_at < now() - to_seconds(?) THEN 'interrupted'
                ELSE status END AS status,
           n_items, n_calls, n_labeled, n_failed, n_cached, n_requests, tokens_in, tokens_out, cost_usd,
           options, message, started_by, started_at, heartbeat_at, finished_at
    FROM llm_runs
"""


def get_run(db: Database, run_id: int) -> dict:
    """One run as a dict (status 'interrupted' for a run whose process stopped reporting)."""
    with db.connect() as con:
        df = con.execute(_RUNS + " WHERE run_id = ?", [STALE_AFTER_SECONDS, run_id]).df()
    if df.empty:
        raise LookupError(f"no run {run_id}")
    row = df.iloc[0].to_dict()
    row["options"] = json.loads(row["options"]) if isinstance(row["options"], str) else {}
    return row


def list_runs(db: Database, task_id: int, labeler: str | None = None, *, limit: int = 100) -> pd.DataFrame:
    """A task's runs, newest first."""
    sql = _RUNS + " WHERE task_id = ?" + (" AND labeler = ?" if labeler else "") + " ORDER BY run_id DESC LIMIT ?"
    params = [STALE_AFTER_SECONDS, task_id] + ([labeler] if labeler else []) + [limit]
    with db.connect() as con:
        return con.execute(sql, params).df()


def run_outcomes(db: Database, run_id: int) -> pd.DataFrame:
    """Per call of a run: item_id, batch, sample_index, shown_order, outcome, error, and the call's label."""
    with db.connect() as con:
        return con.execute(
            "SELECT r.item_id, r.batch, r.sample_index, r.shown_order, r.outcome, r.error, c.value, c.confidence,"
            " c.raw_response, c.latency_ms, c.cost_usd FROM llm_run_items r LEFT JOIN llm_calls c USING (call_id)"
            " WHERE r.run_id = ? ORDER BY r.batch, r.item_id, r.sample_index, r.shown_order", [run_id]).df()


def run_failures(db: Database, run_id: int) -> pd.DataFrame:
    """The failed calls of a run with their reasons; `resolved` is true once a later run of the
    same labeler on the same task labeled that call."""
    with db.connect() as con:
        return con.execute(
            "SELECT r.item_id, r.batch, r.sample_index, r.shown_order, r.error, c.raw_response,"
            " EXISTS (SELECT 1 FROM llm_run_items r2 JOIN llm_runs u2 ON u2.run_id = r2.run_id"
            "   WHERE u2.task_id = u.task_id AND u2.labeler = u.labeler AND r2.run_id > r.run_id"
            "   AND r2.item_id = r.item_id AND r2.batch = r.batch AND r2.sample_index = r.sample_index"
            "   AND r2.shown_order IS NOT DISTINCT FROM r.shown_order AND r2.outcome <> 'failed') AS resolved"
            " FROM llm_run_items r JOIN llm_runs u ON u.run_id = r.run_id LEFT JOIN llm_calls c USING (call_id)"
            " WHERE r.run_id = ? AND r.outcome = 'failed'"
            " ORDER BY r.batch, r.item_id, r.sample_index, r.shown_order", [run_id]).df()


def failed_units(db: Database, run_id: int) -> pd.DataFrame:
    """Distinct (item_id, batch) with a failed call in the run, for a retry."""
    with db.connect() as con:
        return con.execute("SELECT DISTINCT item_id, batch FROM llm_run_items WHERE run_id = ? AND outcome = 'failed'"
                           " ORDER BY batch, item_id", [run_id]).df()


def run_calls(db: Database, run_id: int) -> pd.DataFrame:
    """Every request-ending call a run made (the ledger), oldest first."""
    with db.connect() as con:
        return con.execute("SELECT * FROM llm_calls WHERE run_id = ? ORDER BY created_at", [run_id]).df()


def spent(db: Database, task_id: int, labeler: str | None = None) -> dict:
    """Requests-ending calls, tokens and estimated dollars spent on a task (optionally one labeler)."""
    sql = ("SELECT count(*), coalesce(sum(tokens_in), 0), coalesce(sum(tokens_out), 0), coalesce(sum(cost_usd), 0)"
           " FROM llm_calls WHERE task_id = ?" + (" AND labeler = ?" if labeler else ""))
    with db.connect() as con:
        n, tin, tout, cost = con.execute(sql, [task_id] + ([labeler] if labeler else [])).fetchone()
    return {"calls": int(n), "tokens_in": int(tin), "tokens_out": int(tout), "cost_usd": float(cost)}
