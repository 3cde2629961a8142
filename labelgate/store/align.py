"""Alignment lab splits, final evaluations, promotions and proposals (migrations 0022, 0024, 0025).
Append-only: inserts and reads."""

from __future__ import annotations

import json

import pandas as pd

from labelgate.store.db import Database, fetch_one


def _release_clause(gold_release: int | None) -> tuple[str, list]:
    return ("gold_release IS NULL", []) if gold_release is None else ("gold_release = ?", [gold_release])


def find_split(db: Database, task_id: int, gold_release: int | None) -> dict | None:
    """The split of a task for one gold release (None: the draft), as a dict, or None."""
    clause, params = _release_clause(gold_release)
    with db.connect() as con:
        rows = con.execute(f"SELECT * FROM align_splits WHERE task_id = ? AND {clause} ORDER BY split_id LIMIT 1",
                           [task_id, *params]).df()
    return None if rows.empty else rows.iloc[0].to_dict()


def latest_split(db: Database, task_id: int) -> dict | None:
    """The task's most recent split of any release, or None."""
    with db.connect() as con:
        rows = con.execute("SELECT * FROM align_splits WHERE task_id = ? ORDER BY split_id DESC LIMIT 1",
                           [task_id]).df()
    return None if rows.empty else rows.iloc[0].to_dict()


def split_items(db: Database, split_id: int) -> pd.DataFrame:
    """item_id, part, stratum of a split, by part then item id."""
    with db.connect() as con:
        return con.execute("SELECT item_id, part, stratum FROM align_split_items WHERE split_id = ?"
                           " ORDER BY part, item_id", [split_id]).df()


def record_split(db: Database, *, task_id: int, gold_release: int | None, gold_version: str, shares: tuple,
                 stratify: str | None, seed: int, inherited_from: int | None, items: pd.DataFrame,
                 created_by: str) -> tuple[int, bool]:
    """Append a split and its items (item_id, part, stratum) in one transaction.

    Returns (split_id, created): when another process stored a split for the same release first,
    that one is returned and nothing is written (the split is made once).
    """
    clause, params = _release_clause(gold_release)
    with db.transaction() as con:
        existing = fetch_one(con, f"SELECT split_id FROM align_splits WHERE task_id = ? AND {clause}",
                             [task_id, *params])
        if existing is not None:
            return int(existing[0]), False
        (split_id,) = fetch_one(
            con,
            "INSERT INTO align_splits (task_id, gold_release, gold_version, train_share, dev_share, test_share,"
            " stratify, seed, inherited_from, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING split_id",
            [task_id, gold_release, gold_version, *shares, stratify, seed, inherited_from, created_by])
        rows = items.assign(split_id=split_id)[["split_id", "item_id", "part", "stratum"]]
        con.register("new_split_items", rows)
        con.execute("INSERT INTO align_split_items SELECT * FROM new_split_items")
        con.unregister("new_split_items")
    return int(split_id), True


def record_final(db: Database, *, split_id: int, task_id: int, labeler: str, labeler_version: str, n_items: int,
                 metrics: dict, created_by: str) -> tuple[int, int]:
    """Append a final evaluation; returns (final_id, how many final evaluations the split now has)."""
    with db.transaction() as con:
        (final_id,) = fetch_one(
            con,
            "INSERT INTO align_final_evaluations (split_id, task_id, labeler, labeler_version, n_items, metrics,"
            " created_by) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING final_id",
            [split_id, task_id, labeler, labeler_version, n_items, json.dumps(metrics), created_by])
        (count,) = fetch_one(con, "SELECT count(*) FROM align_final_evaluations WHERE split_id = ?", [split_id])
    return int(final_id), int(count)


def final_evaluations(db: Database, task_id: int) -> pd.DataFrame:
    """Every final evaluation of a task, oldest first (metrics as JSON text)."""
    with db.connect() as con:
        return con.execute("SELECT * FROM align_final_evaluations WHERE task_id = ? ORDER BY final_id",
                           [task_id]).df()


def count_finals(db: Database, split_id: int) -> int:
    """How many final evaluations a split has had."""
    with db.connect() as con:
        return int(fetch_one(con, "SELECT count(*) FROM align_final_evaluations WHERE split_id = ?", [split_id])[0])


def call_usage(db: Database, task_id: int, versions: list[str], item_ids: list[str]) -> pd.DataFrame:
    """Per labeler version, over `item_ids` (cache scope '' only; the answer a re-run would use per call key):
    version, n_items, n_calls, n_invalid (invalid or error), tokens, cost_usd, latency_ms (summed)."""
    with db.connect() as con:
        con.register("wanted_versions", pd.DataFrame({"version": pd.Series(list(versions), dtype=object)}))
        con.register("wanted_items", pd.DataFrame({"item_id": pd.Series(list(item_ids), dtype=object)}))
        return con.execute(
            "SELECT version, count(DISTINCT item_id) AS n_items, count(*) AS n_calls,"
            " sum(CASE WHEN status = 'ok' THEN 0 ELSE 1 END) AS n_invalid,"
            " sum(coalesce(tokens_in, 0) + coalesce(tokens_out, 0)) AS tokens, sum(cost_usd) AS cost_usd,"
            " sum(coalesce(latency_ms, 0)) AS latency_ms FROM ("
            "  SELECT c.*, row_number() OVER (PARTITION BY c.version, c.item_id, c.sample_index, c.shown_order,"
            "    c.criterion ORDER BY (c.status = 'ok') DESC, c.created_at DESC) AS rn"
            "  FROM llm_calls c WHERE c.task_id = ? AND c.cache_scope = ''"
            "   AND c.version IN (SELECT version FROM wanted_versions)"
            "   AND c.item_id IN (SELECT item_id FROM wanted_items)"
            " ) WHERE rn = 1 GROUP BY version", [task_id]).df()


def dev_run_labelers(db: Database, task_id: int, batch: str) -> list[str]:
    """The labelers with labels in the alignment lab's dev batch, in the order they were first labeled."""
    with db.connect() as con:
        rows = con.execute("SELECT labeler FROM llm_labels WHERE task_id = ? AND batch = ? GROUP BY labeler"
                           " ORDER BY min(created_at), labeler", [task_id, batch]).fetchall()
    return [r[0] for r in rows]


def record_promotion(db: Database, *, task_id: int, split_id: int, final_id: int, variant: str, labeler: str,
                     labeler_version: str, primary_metric: str, dev_metrics: dict, test_metrics: dict,
                     n_dev_items: int, n_test_items: int, test_looks: int, created_by: str) -> int:
    """Append a promotion (migration 0024); returns its id."""
    with db.transaction() as con:
        (promotion_id,) = fetch_one(
            con,
            "INSERT INTO align_promotions (task_id, split_id, final_id, variant, labeler, labeler_version,"
            " primary_metric, dev_metrics, test_metrics, n_dev_items, n_test_items, test_looks, created_by)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING promotion_id",
            [task_id, split_id, final_id, variant, labeler, labeler_version, primary_metric,
             json.dumps(dev_metrics), json.dumps(test_metrics), n_dev_items, n_test_items, test_looks, created_by])
    return int(promotion_id)


def latest_promotion(db: Database, task_id: int, labeler: str, labeler_version: str | None = None) -> dict | None:
    """The newest promotion saved under `labeler` (of `labeler_version` when given), metrics as dicts, or None."""
    sql = "SELECT * FROM align_promotions WHERE task_id = ? AND labeler = ?"
    params: list = [task_id, labeler]
    if labeler_version is not None:
        sql += " AND labeler_version = ?"
        params.append(labeler_version)
    with db.connect() as con:
        rows = con.execute(sql + " ORDER BY promotion_id DESC LIMIT 1", params).df()
    if rows.empty:
        return None
    out = rows.iloc[0].to_dict()
    out["dev_metrics"], out["test_metrics"] = json.loads(out["dev_metrics"]), json.loads(out["test_metrics"])
    return out


def promotions(db: Database, task_id: int) -> pd.DataFrame:
    """Every promotion of a task, oldest first (metrics as JSON text)."""
    with db.connect() as con:
        return con.execute("SELECT * FROM align_promotions WHERE task_id = ? ORDER BY promotion_id", [task_id]).df()


def labeled_items(db: Database, task_id: int, labeler: str, version: str, item_ids: list[str]) -> set[str]:
    """Which of `item_ids` have a label by this labeler version (any batch, any criterion)."""
    with db.connect() as con:
        con.register("wanted_items", pd.DataFrame({"item_id": pd.Series(list(item_ids), dtype=object)}))
        rows = con.execute("SELECT DISTINCT item_id FROM llm_labels WHERE task_id = ? AND labeler = ? AND version = ?"
                           " AND item_id IN (SELECT item_id FROM wanted_items)", [task_id, labeler, version]).fetchall()
    return {r[0] for r in rows}


def imported_labels(db: Database, task_id: int, labeler: str, version: str) -> bool:
    """Whether this labeler version has labels that came in a file (an imported labeler: nothing to run)."""
    with db.connect() as con:
        return fetch_one(con, "SELECT count(*) FROM llm_labels WHERE task_id = ? AND labeler = ? AND version = ?"
                              " AND source = 'import'", [task_id, labeler, version])[0] > 0


def record_proposal(db: Database, *, task_id: int, split_id: int, base_labeler: str, base_version: str,
                    train_run_id: int | None, train_cost_usd: float, n_train_items: int, n_errors: int,
                    error_item_ids: list[str], proposer_provider: str, proposer_model: str,
                    proposer_base_url: str | None, n_requested: int, prompt: str, response: str,
                    tokens_in: int | None, tokens_out: int | None, cost_usd: float, variants: list[dict],
                    created_by: str) -> int:
    """Append a proposal of instruction rewrites (migration 0025); returns its id."""
    with db.transaction() as con:
        (proposal_id,) = fetch_one(
            con,
            "INSERT INTO align_proposals (task_id, split_id, base_labeler, base_version, train_run_id,"
            " train_cost_usd, n_train_items, n_errors, error_item_ids, proposer_provider, proposer_model,"
            " proposer_base_url, n_requested, prompt, response, tokens_in, tokens_out, cost_usd, variants, created_by)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING proposal_id",
            [task_id, split_id, base_labeler, base_version, train_run_id, train_cost_usd, n_train_items, n_errors,
             json.dumps(error_item_ids), proposer_provider, proposer_model, proposer_base_url, n_requested, prompt,
             response, tokens_in, tokens_out, cost_usd, json.dumps(variants), created_by])
    return int(proposal_id)



def proposals(db: Database, task_id: int) -> pd.DataFrame:
    """Every proposal of a task, oldest first (error_item_ids and variants as JSON text)."""
    with db.connect() as con:
        return con.execute("SELECT * FROM align_proposals WHERE task_id = ? ORDER BY proposal_id", [task_id]).df()
