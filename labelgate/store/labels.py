"""Human and LLM labels: appended, never updated or deleted."""

from __future__ import annotations

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


def next_queue_item(db: Database, task_id: int, rater: str, experts_per_item: int) -> str | None:
    """The next calibration item for `rater`: never one they answered, and only items that
    still need labels, in the set's order (so experts overlap on the same items first)."""
    with db.connect() as con:
        row = fetch_one(
            con, _QUEUE + " ORDER BY m.position LIMIT 1", [task_id, task_id, rater, task_id, experts_per_item]
        )
    return row[0] if row else None


def queue_progress(db: Database, task_id: int, rater: str, experts_per_item: int) -> tuple[int, int]:
    """(answered by rater, answered + still open to rater) over the current calibration set."""
    with db.connect() as con:
        (open_,) = fetch_one(
            con, "SELECT count(*) FROM (" + _QUEUE + ")", [task_id, task_id, rater, task_id, experts_per_item]
        )
        (done,) = fetch_one(
            con,
            "SELECT count(*) FROM human_labels h JOIN item_set_members m ON m.item_id = h.item_id"
            " WHERE m.draw_id = (SELECT max(draw_id) FROM item_set_draws WHERE task_id = ? AND set_name = 'calibration')"
            " AND h.task_id = ? AND h.rater = ? AND h.round = 1",
            [task_id, task_id, rater],
        )
    return done, done + open_


_QUEUE = """
    SELECT m.item_id FROM item_set_members m
    WHERE m.draw_id = (SELECT max(draw_id) FROM item_set_draws WHERE task_id = ? AND set_name = 'calibration')
      AND m.item_id NOT IN (SELECT item_id FROM human_labels WHERE task_id = ? AND rater = ? AND round = 1)
      AND (SELECT count(DISTINCT rater) FROM human_labels h
           WHERE h.task_id = ? AND h.item_id = m.item_id AND h.round = 1 AND h.status = 'label') < ?
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
