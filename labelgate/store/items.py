"""Items of a task, and the calibration and anchor sets drawn from them."""

from __future__ import annotations

import json

import pandas as pd

from labelgate.store.db import Database, fetch_one


def get_items(db: Database, task_id: int, item_ids: list[str] | None = None, *,
              limit: int | None = None) -> pd.DataFrame:
    """item_id, fields (dict), meta (dict), content_hash; all items (or the first `limit`) or the
    ones named, in id order."""
    with db.connect() as con:
        if item_ids is None:
            df = con.execute(
                "SELECT item_id, fields, meta, content_hash FROM items WHERE task_id = ? ORDER BY item_id"
                + (" LIMIT ?" if limit is not None else ""),
                [task_id] + ([limit] if limit is not None else []),
            ).df()
        else:
            wanted = pd.DataFrame({"item_id": pd.Series(list(item_ids), dtype=object)})
            con.register("wanted", wanted)
            df = con.execute(
                "SELECT i.item_id, fields, meta, content_hash FROM items i"
                " JOIN wanted w USING (item_id) WHERE task_id = ? ORDER BY item_id",
                [task_id],
            ).df()
    df["fields"] = df["fields"].map(json.loads)
    df["meta"] = df["meta"].map(json.loads)
    return df


def count_items(db: Database, task_id: int) -> int:
    with db.connect() as con:
        return fetch_one(con, "SELECT count(*) FROM items WHERE task_id = ?", [task_id])[0]


def item_meta_frame(db: Database, task_id: int) -> pd.DataFrame:
    """One row per item: item_id plus one column per metadata key (for stratifying and slicing)."""
    with db.connect() as con:
        df = con.execute("SELECT item_id, meta FROM items WHERE task_id = ? ORDER BY item_id", [task_id]).df()
    meta = pd.json_normalize(df["meta"].map(json.loads).tolist())
    meta.insert(0, "item_id", df["item_id"].to_numpy())
    return meta


def record_set_draw(
    db: Database,
    task_id: int,
    set_name: str,
    item_ids: list[str],
    *,
    seed: int,
    stratify_by: str | None,
    created_by: str | None,
) -> int:
    """Store a drawn calibration or anchor set; it becomes the task's current set."""
    members = pd.DataFrame(
        {"item_id": pd.Series(list(item_ids), dtype=object), "position": range(len(item_ids))}
    )
    with db.transaction() as con:
        (draw_id,) = fetch_one(
            con,
            "INSERT INTO item_set_draws (task_id, set_name, size, seed, stratify_by, created_by)"
            " VALUES (?, ?, ?, ?, ?, ?) RETURNING draw_id",
            [task_id, set_name, len(item_ids), seed, stratify_by, created_by],
        )
        con.register("members", members)
        con.execute("INSERT INTO item_set_members SELECT ?, item_id, position FROM members", [draw_id])
    return draw_id


def current_set(db: Database, task_id: int, set_name: str) -> list[str]:
    """Item ids of the task's current calibration or anchor set, in draw order ([] if none)."""
    with db.connect() as con:
        rows = con.execute(
            "SELECT m.item_id FROM item_set_members m WHERE m.draw_id = ("
            " SELECT max(draw_id) FROM item_set_draws WHERE task_id = ? AND set_name = ?)"
            " ORDER BY m.position",
            [task_id, set_name],
        ).fetchall()
    return [r[0] for r in rows]
