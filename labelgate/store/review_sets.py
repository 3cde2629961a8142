"""Targeted review draws (migration 0021). Append-only: inserts and reads."""

from __future__ import annotations

import json

import pandas as pd

from labelgate.store.db import Database, fetch_one
from labelgate.tasks import DEFAULT_CRITERION

# items of any review draw of the task that are not in its current calibration set: their human
# labels are review answers, never gold (a targeted draw is not a random sample)
REVIEW_ONLY_ITEMS = (
    "SELECT ri.item_id FROM review_draw_items ri JOIN review_draws rd USING (draw_id) WHERE rd.task_id = {task}"
    " EXCEPT SELECT m.item_id FROM item_set_members m WHERE m.draw_id = (SELECT max(draw_id) FROM item_set_draws"
    " WHERE task_id = {task} AND set_name = 'calibration')")


def record_draw(db: Database, *, task_id: int, labeler: str, labeler_version: str, batch: str | None,
                strategy: str, pool_size: int, seed: int, floor: float, gold_name: str, details: dict,
                items: pd.DataFrame, created_by: str) -> int:
    """Append a draw and its items (item_id, score, probability, reason, llm_value, llm_value_num) at once."""
    with db.transaction() as con:
        (draw_id,) = fetch_one(
            con,
            "INSERT INTO review_draws (task_id, labeler, labeler_version, batch, strategy, size, pool_size, seed,"
            " floor, gold_name, details, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING draw_id",
            [task_id, labeler, labeler_version, batch, strategy, len(items), pool_size, seed, floor, gold_name,
             json.dumps(details), created_by])
        rows = items.assign(draw_id=draw_id, position=range(len(items)))[
            ["draw_id", "item_id", "position", "score", "probability", "reason", "llm_value", "llm_value_num"]]
        con.register("new_review_items", rows)
        con.execute("INSERT INTO review_draw_items SELECT * FROM new_review_items")
        con.unregister("new_review_items")
    return draw_id


def draws(db: Database, task_id: int) -> pd.DataFrame:
    """Every review draw of a task, newest first (details as text)."""
    with db.connect() as con:
        return con.execute("SELECT * FROM review_draws WHERE task_id = ? ORDER BY draw_id DESC", [task_id]).df()


def drawn_items(db: Database, task_id: int, draw_id: int | None = None) -> pd.DataFrame:
    """The items of one draw (or of all the task's draws) with the draw's labeler, batch and strategy."""
    sql = ("SELECT rd.draw_id, rd.labeler, rd.labeler_version, rd.batch, rd.strategy, rd.pool_size, ri.item_id,"
           " ri.position, ri.score, ri.probability, ri.reason, ri.llm_value, ri.llm_value_num"
           " FROM review_draw_items ri JOIN review_draws rd USING (draw_id) WHERE rd.task_id = ?")
    params = [task_id]
    if draw_id is not None:
        sql += " AND rd.draw_id = ?"
        params.append(draw_id)
    with db.connect() as con:
        return con.execute(sql + " ORDER BY rd.draw_id, ri.position", params).df()


def review_answers(db: Database, task_id: int, *, criterion: str = DEFAULT_CRITERION) -> pd.DataFrame:
    """First-round expert labels (app) of one criterion on review-only items: item_id, rater, value,
    value_num, created_at, rationale; the earliest answer of each item first."""
    with db.connect() as con:
        return con.execute(
            "SELECT item_id, rater, value, value_num, created_at, rationale FROM human_labels"
            " WHERE task_id = ? AND criterion = ?"
            " AND round = 1 AND status = 'label' AND source = 'app' AND item_id IN ("
            + REVIEW_ONLY_ITEMS.format(task="?") + ") ORDER BY item_id, created_at, rater",
            [task_id, criterion, task_id, task_id]).df()
