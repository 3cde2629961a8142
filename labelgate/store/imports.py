"""Writing validated item and label files: one transaction each, idempotent on re-import."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from labelgate.importer import ImportFileError, ParsedFile, _rows
from labelgate.labelers import LabelerConfig
from labelgate.store.db import Database, fetch_one
from labelgate.store.tasks import append_revision
from labelgate.tasks import Task


@dataclass(frozen=True)
class ImportResult:
    n_rows: int
    n_added: int
    import_id: int | None  # None when the file added nothing (already imported)

    @property
    def n_skipped(self) -> int:
        return self.n_rows - self.n_added


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
) -> int:
    (import_id,) = fetch_one(
        con,
        "INSERT INTO imports (import_id, task_id, kind, source, file_name, file_sha256, n_rows, n_added, created_by)"
        " VALUES (coalesce(?, nextval('import_id_seq')), ?, ?, ?, ?, ?, ?, ?, ?) RETURNING import_id",
        [import_id, task.task_id, kind, source, parsed.file_name, parsed.sha256, n_rows, n_added, created_by],
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
    with db.transaction() as con:
        con.register("incoming", incoming)
        clash = con.execute(
            "SELECT i.row_no, i.item_id FROM incoming i JOIN items t ON t.task_id = ? AND t.item_id = i.item_id"
            " WHERE t.content_hash <> i.content_hash OR t.meta::VARCHAR <> i.meta ORDER BY i.row_no",
            [task.task_id],
        ).df()
        if not clash.empty:
            mask = incoming["row_no"].isin(clash["row_no"])
            raise ImportFileError(
                f"{parsed.file_name}: column item_id: items {', '.join(clash['item_id'].head(5))} already exist "
                f"with different content ({_rows(mask)}); items are never overwritten: give changed items new ids"
            )
        new = con.execute(
            "SELECT i.* FROM incoming i ANTI JOIN (SELECT item_id FROM items WHERE task_id = ?) t USING (item_id)",
            [task.task_id],
        ).df()
        if new.empty:
            return ImportResult(len(items), 0, None)
        import_id = _record(con, task, parsed, "items", None, len(items), len(new), created_by)
        con.register("new_items", new)
        con.execute(
            "INSERT INTO items (task_id, item_id, fields, meta, content_hash, import_id)"
            " SELECT ?, item_id, fields, meta, content_hash, ? FROM new_items",
            [task.task_id, import_id],
        )
        if not task.text_columns:  # the first import decides what people and models are shown
            append_revision(con, task, created_by=created_by, text_columns=text_columns)
    return ImportResult(len(items), len(new), import_id)


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

    The frame goes to DuckDB as an Arrow table and the new rows are selected and inserted
    inside DuckDB, so a million rows never round-trip through Python objects.
    """
    incoming = labels.assign(row_no=range(1, len(labels) + 1))
    try:
        return _import_labels(db, task, parsed, labels, incoming, source=source, family=family, created_by=created_by)
    except _NothingNew:
        return ImportResult(len(labels), 0, None)


def _import_labels(db, task, parsed, labels, incoming, *, source, family, created_by) -> ImportResult:
    with db.transaction() as con:
        if source == "human":
            existing = "(SELECT item_id, rater, value FROM human_labels WHERE task_id = ? AND round = 1)"
            key = "e.item_id = i.item_id AND e.rater = i.rater"
            differs = "e.value IS DISTINCT FROM i.value"
        else:
            versions = _labeler_versions(con, task, sorted(incoming["rater"].unique()), family, created_by)
            incoming = incoming.merge(versions, on="rater", how="left")
            existing = ("(SELECT item_id, labeler AS rater, version, batch, sample_index, shown_order, value"
                        " FROM llm_labels WHERE task_id = ?)")
            key = ("e.item_id = i.item_id AND e.rater = i.rater AND e.version = i.version AND e.batch = i.batch"
                   " AND e.sample_index = i.sample_index AND e.shown_order IS NOT DISTINCT FROM i.shown_order")
            differs = "e.value <> i.value"
        con.register("incoming", pa.Table.from_pandas(incoming, preserve_index=False))
        clash = con.execute(f"SELECT i.row_no FROM incoming i JOIN {existing} e ON {key} WHERE {differs}",
                            [task.task_id]).fetchall()
        if clash:
            mask = incoming["row_no"].isin([r[0] for r in clash]).to_numpy()
            raise ImportFileError(
                f"{parsed.file_name}: column value: {_rows(mask)} give a different value for labels that are "
                "already stored; labels are append-only and are never overwritten")
        # The new rows go straight from the Arrow scan into the table (no temporary copy); the
        # import id is taken first so the rows can carry it, and everything rolls back if none is new.
        (import_id,) = fetch_one(con, "SELECT nextval('import_id_seq')")
        new = f"FROM incoming i ANTI JOIN {existing} e ON {key}"
        if source == "human":
            inserted = con.execute(
                "INSERT INTO human_labels (task_id, item_id, rater, round, status, value, value_num, shown_order,"
                " comment, source, import_id) SELECT ?, item_id, rater, 1, 'label', value, value_num, shown_order,"
                f" comment, 'import', ? {new} ORDER BY i.row_no", [task.task_id, import_id, task.task_id])
        else:  # LLM rows carry no id, so their order in the table does not matter: no sort
            inserted = con.execute(
                "INSERT INTO llm_labels (task_id, item_id, labeler, version, batch, sample_index, shown_order, value,"
                " value_num, confidence, source, import_id) SELECT ?, item_id, rater, version, batch, sample_index,"
                f" shown_order, value, value_num, confidence, 'import', ? {new}",
                [task.task_id, import_id, task.task_id])
        (n_new,) = inserted.fetchall()[0]
        if n_new == 0:
            raise _NothingNew
        _record(con, task, parsed, "labels", source, len(labels), n_new, created_by, import_id)
    return ImportResult(len(labels), n_new, import_id)
