"""Reads for the Review page: the adjudication history of an item."""

from __future__ import annotations

import pandas as pd

from labelgate.store.db import Database


def adjudication_history(db: Database, task_id: int, item_id: str) -> pd.DataFrame:
    """Every adjudication of the item, newest first (the first row is the item's gold)."""
    with db.connect() as con:
        return con.execute(
            "SELECT value, decided_by, reason, created_at FROM adjudications WHERE task_id = ? AND item_id = ?"
            " ORDER BY created_at DESC", [task_id, item_id]).df()
