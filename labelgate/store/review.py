"""Reads for the Review page: the adjudication history of an item."""

from __future__ import annotations

import pandas as pd

from labelgate.store.db import Database
from labelgate.tasks import DEFAULT_CRITERION


def adjudication_history(db: Database, task_id: int, item_id: str, *,
                         criterion: str = DEFAULT_CRITERION) -> pd.DataFrame:
    """Every adjudication of the item's `criterion`, newest first (the first row is its gold)."""
    with db.connect() as con:
        return con.execute(
            "SELECT value, decided_by, reason, created_at FROM adjudications WHERE task_id = ? AND item_id = ?"
            " AND criterion = ? ORDER BY created_at DESC", [task_id, item_id, criterion]).df()
