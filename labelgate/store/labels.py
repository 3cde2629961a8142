"""Human and LLM labels: appended, never updated or deleted."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pyarrow as pa

from labelgate.store.db import Database, fetch_one

LLM_LABEL_COLUMNS = (
    "task_id",
    "item_id",
    "labeler",
    "version",
    "batch",
    "sample_index",
    "shown_order",
    "value",
    "value_num",
    "confidence",
    "source",
    "import_id",
)


def append_llm_labels(db: Database, labels: pd.DataFrame, *, con=None) -> int:
    """Bulk-append LLM labels (columns LLM_LABEL_COLUMNS; missing optional ones become NULL).

    Goes through a DataFrame scan, not executemany: millions of rows a second. Pass `con` to
    join a transaction the caller holds.
    """
    frame = pa.Table.from_pandas(labels.reindex(columns=list(LLM_LABEL_COLUMNS)), preserve_index=False)
    cols = ", ".join(LLM_LABEL_COLUMNS)
    sql = (
        f"INSERT INTO llm_labels ({cols}) SELECT task_id::INTEGER, item_id::VARCHAR, labeler::VARCHAR,"
        " version::VARCHAR, batch::VARCHAR, coalesce(sample_index, 0)::INTEGER, shown_order::VARCHAR,"
        " value::VARCHAR, value_num::DOUBLE, confidence::DOUBLE, source::VARCHAR, import_id::INTEGER"
        " FROM frame"
    )
    if con is not None:
        con.register("frame", frame)
        con.execute(sql)
        con.unregister("frame")
        return len(frame)
    with db.transaction() as own:
        own.register("frame", frame)
        own.execute(sql)
    return len(frame)


class DuplicateLabelError(ValueError):
    """The rater already answered this item in this round."""


def append_human_label(
    db: Database,
    *,
    task_id: int,
    item_id: str,
    rater: str,
    status: str,
    value: str | None = None,
    value_num: float | None = None,
    shown_order: str | None = None,
    comment: str | None = None,
    round: int = 1,
) -> None:
    """Append one answer given in the app; committed when this returns."""
    import duckdb

    try:
        with db.transaction() as con:
            con.execute(
                "INSERT INTO human_labels (task_id, item_id, rater, round, status, value, value_num, shown_order,"
                " comment, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'app')",
                [task_id, item_id, rater, round, status, value, value_num, shown_order, comment or None],
            )
    except duckdb.ConstraintException:
        raise DuplicateLabelError(f"{rater} has already answered item {item_id}") from None


def queue_snapshot(db: Database, task_id: int, rater: str, experts_per_item: int, *,
                   pick_retest: Callable[[pd.DataFrame], str | None] | None = None) -> dict:
    """Everything the Label page needs after each answer, in one open of the file.

    The next calibration item for `rater` (never one they answered; only items that still
    need labels; in the set's order, so experts overlap on the same items first), its fields,
    and progress: how many set items the rater answered and how many are still open to them.
    With `pick_retest`, it is given the rater's answers (item_id, round, status, created_at,
    oldest first) and may name an item to ask again instead (then "round" is 2).
    """
    with db.connect() as con:
        item_id, n_open, n_done = fetch_one(con, _QUEUE, [task_id, task_id, rater, task_id, experts_per_item])
        round_ = 1
        if pick_retest is not None:
            history = con.execute(
                "SELECT item_id, round, status, created_at FROM human_labels WHERE task_id = ? AND rater = ?"
                " ORDER BY label_id", [task_id, rater]).df()
            retest = pick_retest(history)
            if retest is not None:
                item_id, round_ = retest, 2
        fields = None
        if item_id is not None:
            (fields,) = fetch_one(con, "SELECT fields FROM items WHERE task_id = ? AND item_id = ?", [task_id, item_id])
    return {"item_id": item_id, "fields": fields, "done": n_done, "open": n_open, "round": round_}


_QUEUE = """
    WITH members AS (
        SELECT item_id, position FROM item_set_members
        WHERE draw_id = (SELECT max(draw_id) FROM item_set_draws WHERE task_id = ? AND set_name = 'calibration')),
    mine AS (SELECT DISTINCT item_id FROM human_labels WHERE task_id = ? AND rater = ? AND round = 1),
    coverage AS (SELECT item_id, count(DISTINCT rater) AS k FROM human_labels
                 WHERE task_id = ? AND round = 1 AND status = 'label' GROUP BY item_id),
    open AS (SELECT m.item_id, m.position FROM members m LEFT JOIN coverage c USING (item_id)
             WHERE m.item_id NOT IN (SELECT item_id FROM mine) AND coalesce(c.k, 0) < ?)
    SELECT (SELECT item_id FROM open ORDER BY position LIMIT 1),
           (SELECT count(*) FROM open),
           (SELECT count(*) FROM members JOIN mine USING (item_id))
"""


def human_labels(db: Database, task_id: int, *, rater: str | None = None) -> pd.DataFrame:
    """Every human answer of a task (or of one rater), oldest first."""
    with db.connect() as con:
        sql = "SELECT * FROM human_labels WHERE task_id = ?" + (" AND rater = ?" if rater else "")
        return con.execute(sql + " ORDER BY label_id", [task_id, rater] if rater else [task_id]).df()


def coverage(db: Database, task_id: int, experts_per_item: int) -> dict:
    """Size of the current calibration set and how many of its items have enough expert labels."""
    with db.connect() as con:
        size, complete = fetch_one(
            con,
            "WITH s AS (SELECT m.item_id FROM item_set_members m WHERE m.draw_id = ("
            "  SELECT max(draw_id) FROM item_set_draws WHERE task_id = ? AND set_name = 'calibration')),"
            " n AS (SELECT item_id, count(DISTINCT rater) AS k FROM human_labels"
            "  WHERE task_id = ? AND round = 1 AND status = 'label' GROUP BY item_id)"
            " SELECT count(*), count(*) FILTER (WHERE coalesce(n.k, 0) >= ?) FROM s LEFT JOIN n USING (item_id)",
            [task_id, task_id, experts_per_item],
        )
    return {"set_size": size, "complete": complete}
