"""Per-batch aggregates of one labeler's LLM labels, computed inside DuckDB.

The Monitor page and `labelgate gate check` read these; none of them brings the label rows
into Python: each returns one row per batch (or per batch and bin / label). The statistics on
top of the counts live in qc and labelgate/monitor.py.

Batches: the `batch` of llm_labels, where the runner records the anchor re-labels of batch B
as batch ``anchor:B`` (labelgate/llm/runner.py). Both are attributed to batch B here; an
imported batch may instead carry the anchor items in B itself. A batch's time is its first
label's created_at.

Labels are compared in a discrete form ("lab"): the value for categorical and pairwise tasks,
the nearest scale point for ordinal ones, and the tenth of the range for continuous ones.
"""

from __future__ import annotations

import json

import pandas as pd

from labelgate.store.db import Database
from labelgate.tasks import DEFAULT_CRITERION

# Every function reads the labels of one criterion (`criterion`, default the one criterion 'label' of a
# single-question task); labelgate.monitor passes Task.criterion_name.


def _lab(kind: str, bounds: tuple[float, float] | None, col: str = "value", num: str = "value_num") -> str:
    if kind in ("categorical", "pairwise"):
        return col
    lo, hi = bounds
    if kind == "ordinal":
        return f"CAST(least(greatest(round({num}), {int(lo)}), {int(hi)}) AS INTEGER)::VARCHAR"
    width = float(hi) - float(lo)
    return f"CAST(least(greatest(floor(({num} - {float(lo)!r}) / {width!r} * 10), 0), 9) AS INTEGER)::VARCHAR"


def _only(only: list[str] | None) -> tuple[str, list]:
    """A filter on the raw batch column (zonemap-friendly) for the named batches and their anchor re-runs."""
    if only is None:
        return "", []
    names = [str(b) for b in only]
    if not names:
        return " AND FALSE", []
    params = names + [f"anchor:{b}" for b in names]
    return f" AND batch IN ({', '.join('?' * len(params))})", params


def _rows(kind: str, bounds, only: list[str] | None, version: str | None = None, since=None,
          criterion: str = DEFAULT_CRITERION) -> tuple[str, list]:
    """SQL of one labeler's label rows with the batch they belong to (b) and whether they are an anchor re-run.

    Parameters: task_id, labeler, then the batch names when `only` is given, then `since`, then the version,
    then the criterion.
    `since` (a timestamp no later than the first label of any batch in `only`) changes no result: it
    lets DuckDB skip, by their created_at zonemaps, the row groups written before those batches
    (labels are appended as they are made, so the latest batch sits in the last row groups).
    """
    only_sql, only_params = _only(only)
    if since is not None:
        only_sql += " AND created_at >= ?"
        only_params.append(since)
    version_sql = " AND version = ?" if version is not None else ""
    sql = (
        "SELECT CASE WHEN starts_with(batch, 'anchor:') THEN batch[8:] ELSE batch END AS b,"
        " starts_with(batch, 'anchor:') AS anchor_run, item_id, coalesce(shown_order, '') AS so, sample_index,"
        f" {_lab(kind, bounds)} AS lab, confidence, version, created_at"
        f" FROM llm_labels WHERE task_id = ? AND labeler = ?{only_sql}{version_sql} AND criterion = ?"
    )
    return sql, only_params + ([version] if version is not None else []) + [criterion]


def batch_label_counts(db: Database, task_id: int, labeler: str, *, kind: str, bounds=None,
                       criterion: str = DEFAULT_CRITERION) -> pd.DataFrame:
    """Every batch of the labeler in one grouped scan: batch, anchor_run, version, label, n, first_at.

    One row per (batch, anchor re-run or not, version, label), label NULL for rows without one;
    first_at is the group's first created_at. The batch list, the batch sizes and the label
    distributions all derive from it (a few rows per batch, never the label rows). The scan
    groups by the stored columns first (dictionary-compressed, cheap) and folds ``anchor:B``
    into B on the small result.
    """
    with db.connect() as con:
        return con.execute(
            f"WITH g AS (SELECT batch, version, {_lab(kind, bounds)} AS lab, count(*) AS n,"
            "  min(created_at) AS first_at FROM llm_labels WHERE task_id = ? AND labeler = ? AND criterion = ?"
            "  GROUP BY ALL)"
            " SELECT CASE WHEN starts_with(batch, 'anchor:') THEN batch[8:] ELSE batch END AS batch,"
            " starts_with(batch, 'anchor:') AS anchor_run, version, lab AS label, n, first_at FROM g"
            " ORDER BY first_at, batch, version, label",
            [task_id, labeler, criterion]).df()


def _gold_frame(gold: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"item_id": gold["item_id"].astype(object).to_numpy(),
                         "value": gold["value"].astype(object).to_numpy(),
                         "value_num": pd.to_numeric(gold["value_num"], errors="coerce").to_numpy(dtype=float)})


def anchor_agreement(db: Database, task_id: int, labeler: str, anchor_ids: list[str], gold: pd.DataFrame, *,
                     kind: str, bounds=None, criterion: str = DEFAULT_CRITERION) -> pd.DataFrame:
    """Per batch with anchor labels: n_anchor judgments, n_gold / n_gold_same (against gold),
    n_first / n_first_same (against the same judgment of the first anchor run), first_batch.

    A batch's anchor judgments are its ``anchor:B`` rows, else its own rows on anchor items; the
    latest per (item, shown order, sample). The first run is the batch whose anchor labels came first.
    """
    rows, extra = _rows(kind, bounds, None, criterion=criterion)
    anchors = pd.DataFrame({"item_id": pd.Series(list(anchor_ids), dtype=object)})
    with db.connect() as con:
        con.register("anchor_items", anchors)
        con.register("gold_frame", _gold_frame(gold))
        return con.execute(
            f"WITH r AS ({rows}),"
            " a AS (SELECT b, item_id, so, sample_index, lab, created_at FROM r SEMI JOIN anchor_items USING (item_id)"
            "  QUALIFY row_number() OVER (PARTITION BY b, item_id, so, sample_index"
            "   ORDER BY anchor_run DESC, created_at DESC) = 1),"
            " bt AS (SELECT b, min(created_at) AS t FROM a GROUP BY b),"
            " fb AS (SELECT b FROM bt ORDER BY t, b LIMIT 1),"
            " f AS (SELECT item_id, so, sample_index, lab AS flab FROM a WHERE b = (SELECT b FROM fb)),"
            f" g AS (SELECT item_id, {_lab(kind, bounds)} AS glab FROM gold_frame)"
            " SELECT a.b AS batch, count(*) AS n_anchor, count(g.glab) AS n_gold,"
            " count(*) FILTER (WHERE a.lab = g.glab) AS n_gold_same, count(f.flab) AS n_first,"
            " count(*) FILTER (WHERE a.lab = f.flab) AS n_first_same, (SELECT b FROM fb) AS first_batch"
            " FROM a LEFT JOIN g USING (item_id) LEFT JOIN f USING (item_id, so, sample_index)"
            " GROUP BY a.b ORDER BY a.b", [task_id, labeler, *extra]).df()


_LATEST_FAMILY = """
    SELECT name, family, version FROM labeler_versions WHERE task_id = ?
    QUALIFY row_number() OVER (PARTITION BY name ORDER BY created_at DESC) = 1
"""


def cross_family(db: Database, task_id: int, labeler: str, *, kind: str, bounds=None,
                 only: list[str] | None = None, current_only: bool = False, item_sample: int = 1,
                 since=None, criterion: str = DEFAULT_CRITERION) -> pd.DataFrame:
    """Per batch: n_pairs (item x labeler of another family, both labeled), n_disagree, n_items.

    Each labeler's label of an item is its most frequent one (both orders and samples pooled),
    anchor re-runs left out. With `current_only`, only the current version of every labeler counts.
    With `item_sample` k > 1, only the items whose id hashes to 0 modulo k count (a fixed 1-in-k
    sample of items, the same for every batch and labeler), to bound the work on big batches.
    `since`: as in `_rows`.
    """
    with db.connect() as con:
        fam = con.execute(_LATEST_FAMILY, [task_id]).df()
    me = fam[fam["name"] == labeler]
    if me.empty:
        return pd.DataFrame(columns=["batch", "n_pairs", "n_disagree", "n_items"])
    family, version = me.iloc[0]["family"], me.iloc[0]["version"]
    rows, extra = _rows(kind, bounds, only, version if current_only else None, since, criterion)
    other_version = " AND (l.labeler, l.version) IN (SELECT (name, version) FROM fam)" if current_only else ""
    # a few batches: only their items (already in the hash sample; the semi-join is cheaper than hashing
    # every row); all batches: a plain scan with the hash sample (a semi-join on most items costs more)
    if only is not None:
        items, items_params = "AND l.item_id IN (SELECT item_id FROM me)", []
    elif item_sample > 1:
        items, items_params = "AND hash(l.item_id) % CAST(? AS UBIGINT) = 0", [item_sample]
    else:
        items, items_params = "", []
    mine = "AND hash(item_id) % CAST(? AS UBIGINT) = 0" if item_sample > 1 else ""
    mine_params = [item_sample] if item_sample > 1 else []
    with db.connect() as con:
        return con.execute(
            f"WITH fam AS ({_LATEST_FAMILY}), r AS ({rows}),"
            " me AS (SELECT b, item_id, first(lab ORDER BY n DESC, lab) AS lab FROM ("
            "  SELECT b, item_id, lab, count(*) AS n FROM r"
            f"  WHERE NOT anchor_run {mine} GROUP BY ALL) GROUP BY b, item_id),"
            " o AS (SELECT labeler, item_id, first(lab ORDER BY n DESC, lab) AS lab FROM ("
            f"  SELECT l.labeler, l.item_id, {_lab(kind, bounds, 'l.value', 'l.value_num')} AS lab, count(*) AS n"
            "  FROM llm_labels l WHERE l.task_id = ? AND l.criterion = ? AND NOT starts_with(l.batch, 'anchor:')"
            "  AND l.labeler IN (SELECT name FROM fam WHERE family <> ?)"
            f"  {items}{other_version} GROUP BY ALL) GROUP BY labeler, item_id)"
            " SELECT b AS batch, sum(n_pairs)::BIGINT AS n_pairs, sum(n_disagree)::BIGINT AS n_disagree,"
            " count(*) AS n_items FROM (SELECT me.b, me.item_id, count(*) AS n_pairs,"
            "  count(*) FILTER (WHERE me.lab <> o.lab) AS n_disagree FROM me JOIN o USING (item_id) GROUP BY ALL)"
            " GROUP BY b ORDER BY b",
            [task_id, task_id, labeler, *extra, *mine_params, task_id, criterion, family, *items_params]).df()


def calibration_counts(db: Database, task_id: int, labeler: str, gold: pd.DataFrame, edges, *, kind: str,
                       bounds=None, only: list[str] | None = None,
                       version: str | None = None, since=None,
                       criterion: str = DEFAULT_CRITERION) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Confidence against correctness on the gold slice (a batch's rows and anchor re-runs on gold items).

    Returns (per_batch, per_bin): per_batch has batch, n, n_correct and sum_rank_correct (the sum
    of the mid-ranks of the correct rows' confidence within the batch: the Mann-Whitney U statistic
    of the AUROC); per_bin has batch, bin, n, sum_conf, n_correct for the confidence bins whose
    inner edges are `edges[1:-1]` (a bin is (lower, upper], as qc.calibration.reliability_bins).
    """
    rows, extra = _rows(kind, bounds, only, version, since, criterion)
    inner = [float(e) for e in list(edges)[1:-1]]
    bin_sql = " + ".join(f"(c > {e!r})::INTEGER" for e in inner) or "0"
    with db.connect() as con:
        con.register("gold_frame", _gold_frame(gold))
        base = (f"WITH r AS ({rows}), g AS (SELECT item_id, {_lab(kind, bounds)} AS glab FROM gold_frame),"
                " j AS (SELECT r.b, r.confidence AS c, (r.lab = g.glab) AS ok FROM r JOIN g USING (item_id)"
                "  WHERE r.confidence IS NOT NULL AND r.lab IS NOT NULL)")
        params = [task_id, labeler, *extra]
        per_batch = con.execute(
            base + ", rk AS (SELECT b, ok, rank() OVER (PARTITION BY b ORDER BY c)"
            "  + (count(*) OVER (PARTITION BY b, c) - 1) / 2.0 AS mr FROM j)"
            " SELECT b AS batch, count(*) AS n, count(*) FILTER (WHERE ok) AS n_correct,"
            " coalesce(sum(mr) FILTER (WHERE ok), 0) AS sum_rank_correct FROM rk GROUP BY b ORDER BY b",
            params).df()
        per_bin = con.execute(
            base + f" SELECT b AS batch, {bin_sql} AS bin, count(*) AS n, sum(c) AS sum_conf,"
            " count(*) FILTER (WHERE ok) AS n_correct FROM j GROUP BY ALL ORDER BY ALL", params).df()
    return per_batch, per_bin


def output_texts(db: Database, task_id: int, labeler: str, batch_names: list[str], *, kind: str,
                 text_columns: list[str], per_batch: int = 100, bounds=None, since=None,
                 criterion: str = DEFAULT_CRITERION) -> pd.DataFrame:
    """batch, text: for up to `per_batch` items of each named batch (a fixed pseudo-random choice),
    the preferred output of a pairwise item (output_1 or output_2 as the labeler chose), else the
    item's last text column."""
    rows, extra = _rows(kind, bounds, list(batch_names), since=since, criterion=criterion)

    def path(col: str) -> str:
        return "$." + json.dumps(col)

    if kind == "pairwise":
        text = ("CASE me.lab WHEN '1' THEN json_extract_string(i.fields, ?)"
                " WHEN '2' THEN json_extract_string(i.fields, ?) END")
        text_params = [path("output_1"), path("output_2")]
    else:
        text = "json_extract_string(i.fields, ?)"
        text_params = [path(text_columns[-1] if text_columns else "text")]
    with db.connect() as con:
        return con.execute(
            f"WITH r AS ({rows}),"
            " me AS (SELECT b, item_id, first(lab ORDER BY n DESC, lab) AS lab FROM ("
            "  SELECT b, item_id, lab, count(*) AS n FROM r WHERE NOT anchor_run GROUP BY ALL) GROUP BY b, item_id"
            "  QUALIFY row_number() OVER (PARTITION BY b ORDER BY hash(item_id), item_id) <= ?)"
            f" SELECT me.b AS batch, {text} AS text FROM me JOIN items i ON i.task_id = ? AND i.item_id = me.item_id"
            " ORDER BY me.b, me.item_id",
            [task_id, labeler, *extra, per_batch, *text_params, task_id]).df()


# -- export ------------------------------------------------------------------------------------
def llm_items(db: Database, task_id: int, labeler: str, version: str, *, kind: str,
              criterion: str = DEFAULT_CRITERION) -> pd.DataFrame:
    """One row per item the labeler version labeled (anchor re-runs left out): item_id, value (the
    most frequent label, the first in sort order on a tie; NULL for numeric kinds), value_num (mean),
    confidence (mean), batch (latest), n_judgments, tied (discrete kinds: another label is as frequent,
    so the item has no most frequent label; e.g. a pairwise judge whose two orders disagree)."""
    where = "task_id = ? AND labeler = ? AND version = ? AND criterion = ? AND NOT starts_with(batch, 'anchor:')"
    params = [task_id, labeler, version, criterion]
    with db.connect() as con:
        if kind in ("categorical", "pairwise"):
            return con.execute(
                f"WITH c AS (SELECT item_id, value, count(*) AS n FROM llm_labels WHERE {where} GROUP BY ALL),"
                " m AS (SELECT item_id, first(value ORDER BY n DESC, value) AS value,"
                "  count(*) FILTER (WHERE n = top) > 1 AS tied FROM (SELECT *, max(n) OVER (PARTITION BY item_id)"
                "  AS top FROM c) GROUP BY item_id)"
                " SELECT a.item_id, m.value, a.value_num, a.confidence, a.batch, a.n_judgments, m.tied FROM ("
                "  SELECT item_id, avg(value_num) AS value_num, avg(confidence) AS confidence,"
                f"  arg_max(batch, created_at) AS batch, count(*) AS n_judgments FROM llm_labels WHERE {where}"
                "  GROUP BY item_id) a JOIN m USING (item_id) ORDER BY a.item_id", params + params).df()
        return con.execute(
            "SELECT item_id, NULL::VARCHAR AS value, avg(value_num) AS value_num, avg(confidence) AS confidence,"
            f" arg_max(batch, created_at) AS batch, count(*) AS n_judgments, false AS tied FROM llm_labels"
            f" WHERE {where}"
            " GROUP BY item_id ORDER BY item_id", params).df()


def family_disagreement_items(db: Database, task_id: int, labeler: str, version: str, *, kind: str,
                              bounds=None, criterion: str = DEFAULT_CRITERION) -> list[str]:
    """Items of the labeler version on which two current labelers of different families give different labels."""
    lab = _lab(kind, bounds, "l.value", "l.value_num")
    with db.connect() as con:
        rows = con.execute(
            f"WITH fam AS ({_LATEST_FAMILY}),"
            " mine AS (SELECT DISTINCT item_id FROM llm_labels WHERE task_id = ? AND labeler = ? AND version = ?"
            "  AND criterion = ? AND NOT starts_with(batch, 'anchor:')),"
            " per AS (SELECT labeler, family, item_id, first(lab ORDER BY n DESC, lab) AS lab FROM ("
            f"  SELECT l.labeler, f.family, l.item_id, {lab} AS lab, count(*) AS n FROM llm_labels l"
            "  JOIN fam f ON f.name = l.labeler AND f.version = l.version"
            "  WHERE l.task_id = ? AND l.criterion = ? AND NOT starts_with(l.batch, 'anchor:')"
            "  AND l.item_id IN (SELECT item_id FROM mine)"
            "  GROUP BY ALL) GROUP BY ALL)"
            " SELECT DISTINCT a.item_id FROM per a JOIN per b ON a.item_id = b.item_id AND a.family <> b.family"
            " AND a.lab <> b.lab ORDER BY 1",
            [task_id, task_id, labeler, version, criterion, task_id, criterion]).fetchall()
    return [r[0] for r in rows]
