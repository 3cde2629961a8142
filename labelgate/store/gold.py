"""The rows gold is derived from (expert labels, adjudications) and the LLM judgments it is compared with."""

from __future__ import annotations

import pandas as pd

from labelgate.store.db import Database


def expert_labels(db: Database, task_id: int) -> pd.DataFrame:
    """First-round answers with a value: item_id, rater, value, value_num, shown_order."""
    with db.connect() as con:
        return con.execute(
            "SELECT item_id, rater, value, value_num, shown_order, created_at FROM human_labels"
            " WHERE task_id = ? AND round = 1 AND status = 'label' ORDER BY item_id, rater", [task_id]).df()


def flagged_items(db: Database, task_id: int) -> list[str]:
    """Items an expert flagged as ambiguous in the first round."""
    with db.connect() as con:
        rows = con.execute("SELECT DISTINCT item_id FROM human_labels WHERE task_id = ? AND round = 1"
                           " AND status = 'flag' ORDER BY item_id", [task_id]).fetchall()
    return [r[0] for r in rows]


def latest_adjudications(db: Database, task_id: int) -> pd.DataFrame:
    """The latest adjudication per item: item_id, value, value_num, decided_by, reason, created_at."""
    with db.connect() as con:
        return con.execute(
            "SELECT item_id, value, value_num, decided_by, reason, created_at FROM adjudications WHERE task_id = ?"
            " QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY created_at DESC, rowid DESC) = 1"
            " ORDER BY item_id",
            [task_id]).df()


def append_adjudication(db: Database, task_id: int, item_id: str, value: str, value_num: float | None, *,
                        decided_by: str, reason: str) -> None:
    with db.transaction() as con:
        con.execute("INSERT INTO adjudications (task_id, item_id, value, value_num, decided_by, reason)"
                    " VALUES (?, ?, ?, ?, ?, ?)", [task_id, item_id, value, value_num, decided_by, reason])


def llm_judgments(db: Database, task_id: int, *, labelers: list[tuple[str, str]] | None = None,
                  item_ids: list[str] | None = None, batch: str | None = None) -> pd.DataFrame:
    """LLM labels of the given (labeler, version) pairs: the latest per item, order and sample.

    Columns: labeler, version, item_id, shown_order, sample_index, value, value_num, confidence, batch.
    """
    where, params = ["l.task_id = ?"], [task_id]
    with db.connect() as con:
        if labelers is not None:
            con.register("wanted_labelers", pd.DataFrame(labelers, columns=["labeler", "version"], dtype=object))
            where.append("(l.labeler, l.version) IN (SELECT (labeler, version) FROM wanted_labelers)")
        if item_ids is not None:
            con.register("wanted_items", pd.DataFrame({"item_id": pd.Series(list(item_ids), dtype=object)}))
            where.append("l.item_id IN (SELECT item_id FROM wanted_items)")
        if batch is not None:
            where.append("l.batch = ?")
            params.append(batch)
        return con.execute(
            "SELECT labeler, version, item_id, shown_order, sample_index, value, value_num, confidence, batch"
            f" FROM llm_labels l WHERE {' AND '.join(where)}"
            " QUALIFY row_number() OVER (PARTITION BY labeler, version, item_id, shown_order, sample_index"
            "  ORDER BY created_at DESC, rowid DESC) = 1"
            " ORDER BY labeler, item_id, shown_order, sample_index", params).df()
