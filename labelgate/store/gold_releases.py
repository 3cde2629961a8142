"""Gold releases (migration 0008): numbered, frozen snapshots of a task's gold.

Append-only: a release and its items are inserted in one transaction and never updated or
deleted. The release number is the task's previous highest plus one; two people publishing at
the same moment cannot both get it (the primary key refuses the second, who is told to retry).
"""

from __future__ import annotations

import json

import duckdb
import pandas as pd

from labelgate.store.db import Database, fetch_one

ITEM_COLUMNS = ["item_id", "status", "value", "value_num", "source", "n_experts", "expert_values"]
DEFAULT_CRITERION = "label"


class ReleaseConflictError(RuntimeError):
    """Someone else published a release of the same task at the same moment."""


def draft_counters(db: Database, task_id: int) -> tuple[int, int]:
    """(newest first-round answer's label_id or 0, number of adjudication rows): where the draft stands."""
    with db.connect() as con:
        (last,) = fetch_one(con, "SELECT coalesce(max(label_id), 0) FROM human_labels WHERE task_id = ?"
                                 " AND round = 1 AND status IN ('label', 'flag')", [task_id])
        (adj,) = fetch_one(con, "SELECT count(*) FROM adjudications WHERE task_id = ?", [task_id])
    return int(last), int(adj)


def changes_since(db: Database, task_id: int, last_label_id: int, n_adjudications: int) -> tuple[int, int]:
    """(first-round expert answers, adjudications) stored after a release that saw the given counters."""
    with db.connect() as con:
        (answers,) = fetch_one(con, "SELECT count(*) FROM human_answers WHERE task_id = ? AND round = 1"
                                    " AND status IN ('label', 'flag') AND label_id > ?", [task_id, last_label_id])
        (adj,) = fetch_one(con, "SELECT count(*) FROM adjudications WHERE task_id = ?", [task_id])
    return int(answers), max(int(adj) - n_adjudications, 0)


def insert_release(db: Database, task_id: int, *, gold_version: str, items: pd.DataFrame, n_items: int,
                   n_disputed: int, last_label_id: int, n_adjudications: int, expert_agreement: dict,
                   note: str | None, created_by: str) -> int:
    """Append release N+1 of the task with its items (ITEM_COLUMNS and `criterion`: a frame without it is
    about the one criterion 'label'); returns N+1."""
    if "criterion" not in items.columns:
        items = items.assign(criterion=DEFAULT_CRITERION)
    frame = items[[*ITEM_COLUMNS, "criterion"]].astype({"item_id": object, "status": object, "value": object,
                                                        "source": object, "expert_values": object,
                                                        "criterion": object})
    frame = frame.assign(value_num=pd.to_numeric(frame["value_num"], errors="coerce"),
                         n_experts=frame["n_experts"].astype("int64"))
    try:
        with db.transaction() as con:
            (number,) = fetch_one(con, "SELECT coalesce(max(release_no), 0) + 1 FROM gold_releases WHERE task_id = ?",
                                  [task_id])
            con.execute(
                "INSERT INTO gold_releases (task_id, release_no, gold_version, n_items, n_disputed, last_label_id,"
                " n_adjudications, expert_agreement, note, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [task_id, number, gold_version, n_items, n_disputed, last_label_id, n_adjudications,
                 json.dumps(expert_agreement), note, created_by])
            con.register("release_rows", frame)
            con.execute("INSERT INTO gold_release_items (task_id, release_no, item_id, status, value, value_num,"
                        " source, n_experts, expert_values, criterion) SELECT ?, ?, item_id, status, value, value_num,"
                        " source, n_experts, expert_values, criterion FROM release_rows", [task_id, number])
            con.unregister("release_rows")
    except duckdb.ConstraintException as exc:
        raise ReleaseConflictError("another release of this task was published at the same moment") from exc
    except duckdb.TransactionException as exc:
        raise ReleaseConflictError("another release of this task was published at the same moment") from exc
    return int(number)


def releases(db: Database, task_id: int) -> pd.DataFrame:
    """Every release of a task, oldest first (expert_agreement as decoded JSON)."""
    with db.connect() as con:
        df = con.execute("SELECT * FROM gold_releases WHERE task_id = ? ORDER BY release_no", [task_id]).df()
    df["expert_agreement"] = [json.loads(v) for v in df["expert_agreement"]]
    return df


def release(db: Database, task_id: int, number: int | None = None) -> dict | None:
    """Release `number` of the task (the latest when None) as a dict, or None if there is none."""
    sql = "SELECT * FROM gold_releases WHERE task_id = ?"
    params: list = [task_id]
    if number is not None:
        sql += " AND release_no = ?"
        params.append(int(number))
    with db.connect() as con:
        df = con.execute(sql + " ORDER BY release_no DESC LIMIT 1", params).df()
    if df.empty:
        return None
    row = df.iloc[0].to_dict()
    row["expert_agreement"] = json.loads(row["expert_agreement"])
    return row


def release_items(db: Database, task_id: int, number: int, *, criterion: str = DEFAULT_CRITERION) -> pd.DataFrame:
    """The items of one release (ITEM_COLUMNS) for one criterion, ordered by item."""
    with db.connect() as con:
        return con.execute(f"SELECT {', '.join(ITEM_COLUMNS)} FROM gold_release_items WHERE task_id = ?"
                           " AND release_no = ? AND criterion = ? ORDER BY item_id",
                           [task_id, int(number), criterion]).df()
