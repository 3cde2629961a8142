"""Reads for the Calibrate page that the other store modules do not cover."""

from __future__ import annotations

from labelgate.store.db import Database


def labeler_batches(db: Database, task_id: int, labeler: str, version: str) -> list[tuple[str, int]]:
    """(batch, number of items) of every batch this labeler version labeled, by name."""
    with db.connect() as con:
        return con.execute(
            "SELECT batch, count(DISTINCT item_id) FROM llm_labels WHERE task_id = ? AND labeler = ? AND version = ?"
            " GROUP BY batch ORDER BY batch", [task_id, labeler, version]).fetchall()
