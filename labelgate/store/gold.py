"""The rows gold is derived from (expert labels, adjudications) and the LLM judgments it is compared with."""

from __future__ import annotations

import pandas as pd

from labelgate.store.db import Database
from labelgate.store.review_sets import REVIEW_ONLY_ITEMS
from labelgate.tasks import DEFAULT_CRITERION

# Every read here is about one criterion (default: 'label', the one criterion of a task made with the
# single-question options); services pass Task.criterion_name.
# Review answers are not gold: a targeted draw is not a random sample (labelgate.targeted).
# Imported human labels are never review answers, whichever item they are on.
_NOT_REVIEW = " AND (source <> 'app' OR item_id NOT IN (" + REVIEW_ONLY_ITEMS.format(task="$task") + "))"


def expert_labels(db: Database, task_id: int, *, criterion: str | None = DEFAULT_CRITERION) -> pd.DataFrame:
    """First-round answers with a value: item_id, rater, value, value_num, shown_order, rationale (review
    items left out), of one criterion; None: of every criterion, with a `criterion` column, in one read."""
    where, cols = "", ""
    params: dict = {"task": task_id}
    if criterion is None:
        cols = ", criterion"
    else:
        where = " AND criterion = $criterion"
        params["criterion"] = criterion
    with db.connect() as con:
        return con.execute(
            "SELECT item_id, rater, value, value_num, shown_order, created_at, rationale" + cols + " FROM human_labels"
            " WHERE task_id = $task" + where + " AND round = 1 AND status = 'label'" + _NOT_REVIEW
            + " ORDER BY item_id, rater", params).df()


def flagged_items(db: Database, task_id: int, *, criterion: str = DEFAULT_CRITERION) -> list[str]:
    """Items an expert flagged as ambiguous in the first round (a flag is on every criterion of the item)."""
    with db.connect() as con:
        rows = con.execute("SELECT DISTINCT item_id FROM human_labels WHERE task_id = $task AND criterion = $criterion"
                           " AND round = 1 AND status = 'flag'" + _NOT_REVIEW + " ORDER BY item_id",
                           {"task": task_id, "criterion": criterion}).fetchall()
    return [r[0] for r in rows]


def latest_adjudications(db: Database, task_id: int, *, criterion: str = DEFAULT_CRITERION) -> pd.DataFrame:
    """The latest adjudication per item: item_id, value, value_num, decided_by, reason, created_at."""
    with db.connect() as con:
        return con.execute(
            "SELECT item_id, value, value_num, decided_by, reason, created_at FROM adjudications WHERE task_id = ?"
            " AND criterion = ?"
            " QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY created_at DESC, rowid DESC) = 1"
            " ORDER BY item_id",
            [task_id, criterion]).df()


def append_adjudication(db: Database, task_id: int, item_id: str, value: str, value_num: float | None, *,
                        decided_by: str, reason: str, criterion: str = DEFAULT_CRITERION) -> None:
    with db.transaction() as con:
        con.execute("INSERT INTO adjudications (task_id, item_id, value, value_num, decided_by, reason, criterion)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)", [task_id, item_id, value, value_num, decided_by, reason,
                                                      criterion])


def llm_judgments(db: Database, task_id: int, *, labelers: list[tuple[str, str]] | None = None,
                  item_ids: list[str] | None = None, batch: str | None = None,
                  criterion: str | None = DEFAULT_CRITERION) -> pd.DataFrame:
    """LLM labels of the given (labeler, version) pairs: the latest per item, order and sample, of one
    criterion (None: of every criterion, one row per criterion).

    Columns: labeler, version, item_id, shown_order, sample_index, value, value_num, confidence, batch,
    criterion, rationale.
    """
    where, params = ["l.task_id = ?"], [task_id]
    if criterion is not None:
        where.append("l.criterion = ?")
        params.append(criterion)
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
            "SELECT labeler, version, item_id, shown_order, sample_index, value, value_num, confidence, batch,"
            " criterion, rationale"
            f" FROM llm_labels l WHERE {' AND '.join(where)}"
            " QUALIFY row_number() OVER (PARTITION BY labeler, version, item_id, shown_order, sample_index, criterion"
            "  ORDER BY created_at DESC, rowid DESC) = 1"
            " ORDER BY labeler, item_id, shown_order, sample_index, criterion", params).df()


def judge_output_counts(db: Database, task_id: int, labelers: list[tuple[str, str]], *,
                        criterion: str = DEFAULT_CRITERION) -> pd.DataFrame:
    """How many outputs of each (labeler, version) were a label and how many were not.

    Columns: labeler, version, n_labels (distinct keys in llm_labels), n_invalid (imported outputs
    that were not a label of the task, plus run answers whose key never got a valid one).
    """
    out = judge_output_counts_by_criterion(db, task_id, labelers, [criterion])
    return out.drop(columns="criterion")


def judge_output_counts_by_criterion(db: Database, task_id: int, labelers: list[tuple[str, str]],
                                     criteria: list[str]) -> pd.DataFrame:
    """judge_output_counts for several criteria in one read: one row per criterion and (labeler, version),
    ordered by criterion (in the order given) and labeler, with a `criterion` column."""
    wanted = pd.DataFrame([(c, i, lab, ver) for i, c in enumerate(criteria) for lab, ver in labelers],
                          columns=["criterion", "position", "labeler", "version"]).astype(
        {"criterion": object, "labeler": object, "version": object})
    with db.connect() as con:
        con.register("wanted_outputs", wanted)
        return con.execute(
            "WITH labels AS (SELECT criterion, labeler, version,"
            "  count(DISTINCT (item_id, batch, sample_index, shown_order)) n"
            "  FROM llm_labels JOIN wanted_outputs USING (criterion, labeler, version) WHERE task_id = $task"
            "  GROUP BY ALL),"
            " imported AS (SELECT criterion, labeler, version, count(*) n FROM llm_invalid_labels"
            "  JOIN wanted_outputs USING (criterion, labeler, version) WHERE task_id = $task GROUP BY ALL),"
            " ran AS (SELECT criterion, labeler, version, count(*) n FROM (SELECT criterion, labeler, version"
            "  FROM llm_calls JOIN wanted_outputs USING (criterion, labeler, version) WHERE task_id = $task"
            "  AND status IN ('ok', 'invalid')"
            "  GROUP BY criterion, labeler, version, task_spec, content_hash, cache_scope, sample_index, shown_order"
            "  HAVING NOT bool_or(status = 'ok')) GROUP BY ALL)"
            " SELECT w.criterion, w.labeler, w.version, coalesce(l.n, 0)::BIGINT AS n_labels,"
            "  (coalesce(i.n, 0) + coalesce(r.n, 0))::BIGINT AS n_invalid"
            " FROM wanted_outputs w LEFT JOIN labels l USING (criterion, labeler, version)"
            " LEFT JOIN imported i USING (criterion, labeler, version)"
            " LEFT JOIN ran r USING (criterion, labeler, version)"
            " ORDER BY w.position, w.labeler", {"task": task_id}).df()
