"""Writing validated item and label files: one transaction each, idempotent on re-import."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from labelgate.importer import ImportFileError, ParsedFile, StagedItems, _rows
from labelgate.labelers import LabelerConfig
from labelgate.store.db import Database, fetch_one
from labelgate.store.tasks import append_revision
from labelgate.tasks import Task


@dataclass(frozen=True)
class ImportResult:
    n_rows: int
    n_added: int
    import_id: int | None  # None when the file added nothing (already imported)
    n_invalid: int = 0     # LLM judge outputs that are not a label, stored apart (llm_invalid_labels)
    n_clipped: int = 0     # of n_added: numbers clipped to the task's range (--invalid clip)

    @property
    def n_skipped(self) -> int:
        return self.n_rows - self.n_added - self.n_invalid

    def describe(self, what: str, file_name: str) -> str:
        """One line on what the import added, for the CLI and the Data page."""
        if self.n_added == 0 and self.n_invalid == 0:
            return f"{file_name}: all {self.n_rows} {what} were already imported; nothing added"
        clipped = f" ({self.n_clipped} clipped to the range)" if self.n_clipped else ""
        invalid = ""
        if self.n_invalid:
            invalid = (f"; {self.n_invalid} invalid judge outputs (not a label of the task) stored apart:"
                       " counted in the labeler's invalid rate, left out of metrics and exports")
        skipped = f"; {self.n_skipped} already present" if self.n_skipped else ""
        return f"{file_name}: added {self.n_added} {what}{clipped}{invalid}{skipped}"


def _record(
    con,
    task: Task,
    parsed: ParsedFile,
    kind: str,
    source: str | None,
    n_rows: int,
    n_added: int,
    created_by: str | None,
    import_id: int | None = None,
    n_invalid: int = 0,
    n_clipped: int = 0,
) -> int:
    (import_id,) = fetch_one(
        con,
        "INSERT INTO imports (import_id, task_id, kind, source, file_name, file_sha256, n_rows, n_added, created_by,"
        " n_invalid, n_clipped) VALUES (coalesce(?, nextval('import_id_seq')), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " RETURNING import_id",
        [import_id, task.task_id, kind, source, parsed.file_name, parsed.sha256, n_rows, n_added, created_by,
         n_invalid, n_clipped],
    )
    return import_id


class _NothingNew(Exception):
    """Every row was already stored: roll the transaction back, record no import."""


def import_items(
    db: Database,
    task: Task,
    parsed: ParsedFile,
    items: pd.DataFrame,
    text_columns: list[str],
    *,
    created_by: str | None = None,
) -> ImportResult:
    """Add the items that are new; an id that exists with other content is an error."""
    incoming = items.assign(row_no=range(1, len(items) + 1))
    # as Arrow, which DuckDB scans in place: the text columns are Arrow strings already (validate_items)
    arrow = pa.Table.from_pandas(incoming, preserve_index=False)

    def source(con) -> str:
        con.register("incoming", arrow)
        return "incoming"

    return _import_items(db, task, parsed, len(items), text_columns, source, created_by)


def import_staged_items(db: Database, task: Task, staged: StagedItems, *,
                        created_by: str | None = None) -> ImportResult:
    """`import_items` of a file staged on disk (`labelgate.importer.stage_items`): DuckDB reads the rows
    from it inside the transaction, so no copy of them is held in Python."""
    path = str(staged.path).replace("'", "''")
    return _import_items(db, task, staged.parsed, staged.n_rows, staged.text_columns,
                         lambda con: f"read_parquet('{path}')", created_by)


def _import_items(db: Database, task: Task, parsed: ParsedFile, n_rows: int, text_columns: list[str],
                  source, created_by: str | None) -> ImportResult:
    with db.transaction() as con:
        incoming = source(con)   # the relation of (item_id, fields, meta, content_hash, row_no)
        clash = con.execute(
            f"SELECT i.row_no, i.item_id FROM {incoming} i JOIN items t ON t.task_id = ? AND t.item_id = i.item_id"
            " WHERE t.content_hash <> i.content_hash OR t.meta::VARCHAR <> i.meta ORDER BY i.row_no",
            [task.task_id],
        ).df()
        if not clash.empty:
            mask = np.zeros(n_rows, dtype=bool)
            mask[clash["row_no"].to_numpy(dtype=np.int64) - 1] = True
            raise ImportFileError(
                f"{parsed.file_name}: column item_id: items {', '.join(clash['item_id'].head(5))} already exist "
                f"with different content ({_rows(mask)}); items are never overwritten: give changed items new ids"
            )
        # counted, then inserted straight from the file's rows (never a second copy of them in Python)
        new_rows = f" FROM {incoming} i ANTI JOIN (SELECT item_id FROM items WHERE task_id = ?) t USING (item_id)"
        n_new = fetch_one(con, "SELECT count(*)" + new_rows, [task.task_id])[0]
        if n_new == 0:
            return ImportResult(n_rows, 0, None)
        import_id = _record(con, task, parsed, "items", None, n_rows, n_new, created_by)
        con.execute(
            "INSERT INTO items (task_id, item_id, fields, meta, content_hash, import_id)"
            " SELECT ?, i.item_id, i.fields, i.meta, i.content_hash, ?" + new_rows,
            [task.task_id, import_id, task.task_id],
        )
        if incoming == "incoming":
            con.unregister("incoming")
        if not task.text_columns:  # the first import decides what people and models are shown
            append_revision(con, task, created_by=created_by, text_columns=text_columns)
    return ImportResult(n_rows, n_new, import_id)


def _labeler_versions(
    con, task: Task, raters: list[str], family: str | None, created_by: str | None
) -> pd.DataFrame:
    """Current version per labeler name, creating an 'import' labeler for names not seen before."""
    rows = []
    for name in raters:
        cur = fetch_one(
            con,
            "SELECT version FROM labeler_versions WHERE task_id = ? AND name = ?"
            " ORDER BY created_at DESC, rowid DESC LIMIT 1",
            [task.task_id, name],
        )
        if cur is None:
            cfg = LabelerConfig(name=name, provider="import", model=name, family=family or "")
            con.execute(
                "INSERT INTO labeler_versions (task_id, name, version, provider, model, family, created_by)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [task.task_id, name, cfg.version, cfg.provider, cfg.model, cfg.family, created_by],
            )
            cur = (cfg.version,)
        rows.append((name, cur[0]))
    return pd.DataFrame(rows, columns=["rater", "version"])


def import_labels(db: Database, task: Task, parsed: ParsedFile, labels: pd.DataFrame, *, source: str,
                  family: str | None = None, created_by: str | None = None) -> ImportResult:
    """Append the labels that are new; a key that exists with another value is an error.

    Rows that validate_labels marked `invalid` (LLM judge outputs that are not a label) go to
    llm_invalid_labels under the same rules. The frame goes to DuckDB as an Arrow table and the
    new rows are selected and inserted inside DuckDB, so a million rows never round-trip through
    Python objects.
    """
    incoming = labels.assign(row_no=range(1, len(labels) + 1))
    if "criterion" not in incoming.columns:   # a one-criterion file: about the task's (first) criterion
        incoming = incoming.assign(criterion=task.criterion_name)
    if "rationale" not in incoming.columns:
        incoming = incoming.assign(rationale=None)
    if "invalid" not in incoming.columns:  # a frame not made by validate_labels (tests, scripts)
        incoming = incoming.assign(invalid=False, clipped=False, raw_value=None)
    try:
        return _import_labels(db, task, parsed, labels, incoming, source=source, family=family, created_by=created_by)
    except _NothingNew:
        return ImportResult(len(labels), 0, None)


def _import_labels(db, task, parsed, labels, incoming, *, source, family, created_by) -> ImportResult:
    p = {"task": task.task_id}
    with db.transaction() as con:
        if source == "human":
            existing = ("(SELECT item_id, rater, criterion, value, NULL::VARCHAR AS raw_value FROM human_labels"
                        " WHERE task_id = $task AND round = 1)")
            key = "e.item_id = i.item_id AND e.rater = i.rater AND e.criterion = i.criterion"
        else:  # a judge output, a label or an invalid one, is stored once under its key
            versions = _labeler_versions(con, task, sorted(incoming["rater"].unique()), family, created_by)
            incoming = incoming.merge(versions, on="rater", how="left")
            existing = ("(SELECT item_id, labeler AS rater, version, batch, sample_index, shown_order, criterion,"
                        " value, NULL::VARCHAR AS raw_value FROM llm_labels WHERE task_id = $task"
                        " UNION ALL SELECT item_id, labeler, version, batch, sample_index, shown_order, criterion,"
                        " NULL, raw_value FROM llm_invalid_labels WHERE task_id = $task)")
            key = ("e.item_id = i.item_id AND e.rater = i.rater AND e.version = i.version AND e.batch = i.batch"
                   " AND e.sample_index = i.sample_index AND e.shown_order IS NOT DISTINCT FROM i.shown_order"
                   " AND e.criterion = i.criterion")
        con.register("incoming", pa.Table.from_pandas(incoming, preserve_index=False))
        clash = con.execute(
            f"SELECT i.row_no, coalesce(e.value, 'invalid ' || e.raw_value) FROM incoming i JOIN {existing} e"
            f" ON {key} WHERE e.value IS DISTINCT FROM i.value OR e.raw_value IS DISTINCT FROM i.raw_value"
            " ORDER BY i.row_no LIMIT 1000", p).fetchall()
        if clash:
            mask = incoming["row_no"].isin([r[0] for r in clash]).to_numpy()
            given = incoming["raw_value"].where(incoming["invalid"], incoming["value"])
            stored = ", ".join(repr(r[1]) for r in clash[:5])
            raise ImportFileError(
                f"{parsed.file_name}: column value: {_rows(mask, given)} give a different value for labels that are"
                f" already stored (stored: {stored}); labels are append-only and are never overwritten")
        # The new rows go straight from the Arrow scan into the table (no temporary copy); the
        # import id is taken first so the rows can carry it, and everything rolls back if none is new.
        (p["import_id"],) = fetch_one(con, "SELECT nextval('import_id_seq')")
        new = f"FROM incoming i ANTI JOIN {existing} e ON {key}"
        n_invalid = n_clipped = 0
        if source == "human":
            inserted = con.execute(
                "INSERT INTO human_label_rows (task_id, item_id, rater, round, status, value, value_num, shown_order,"
                " comment, source, import_id, criterion, rationale) SELECT $task, item_id, rater, 1, 'label', value,"
                f" value_num, shown_order, comment, 'import', $import_id, criterion, rationale {new}"
                " ORDER BY i.row_no", p)
        else:  # LLM rows carry no id, so their order in the table does not matter: no sort
            if bool(incoming["clipped"].any()):
                (n_clipped,) = con.execute(f"SELECT count(*) {new} WHERE i.clipped", {"task": p["task"]}).fetchone()
            if bool(incoming["invalid"].any()):
                (n_invalid,) = con.execute(
                    "INSERT INTO llm_invalid_labels (task_id, item_id, labeler, version, batch, sample_index,"
                    " shown_order, raw_value, import_id, criterion) SELECT $task, item_id, rater, version, batch,"
                    f" sample_index, shown_order, raw_value, $import_id, criterion {new} WHERE i.invalid",
                    p).fetchone()
            inserted = con.execute(
                "INSERT INTO llm_labels (task_id, item_id, labeler, version, batch, sample_index, shown_order, value,"
                " value_num, confidence, source, import_id, criterion, rationale) SELECT $task, item_id, rater,"
                " version, batch, sample_index, shown_order, value, value_num, confidence, 'import', $import_id,"
                f" criterion, rationale {new} WHERE NOT i.invalid", p)
        (n_new,) = inserted.fetchall()[0]
        if n_new == 0 and n_invalid == 0:
            raise _NothingNew
        _record(con, task, parsed, "labels", source, len(labels), n_new, created_by, p["import_id"], n_invalid,
                n_clipped)
    return ImportResult(len(labels), n_new, p["import_id"], n_invalid, n_clipped)
