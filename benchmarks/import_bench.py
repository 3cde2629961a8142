"""Bulk import of 1M LLM label rows from Parquet, beside a row-by-row executemany baseline.

    .venv/bin/python benchmarks/import_bench.py [N_ROWS]

Prints rows/s of `labelgate import labels` (read, validate, de-duplicate, append in one
transaction) and of executemany inserting the same rows (timed on a 20k sample, extrapolated).
Aim: at least 1M rows a second for the import.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from labelgate.importer import read_table, validate_items, validate_labels
from labelgate.store import Database
from labelgate.store.imports import import_items, import_labels
from labelgate.store.tasks import create_task, get_task
from labelgate.tasks import make_spec


def main(n_rows: int = 1_000_000) -> None:
    rng = np.random.default_rng(0)
    n_items = 50_000
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        db = Database(tmp / "bench.duckdb")
        create_task(db, "sent", "categorical", make_spec("categorical", labels=["pos", "neg", "neu"]))
        task = get_task(db, "sent")
        items = pd.DataFrame({"item_id": [f"i{i}" for i in range(n_items)], "text": "some review text " * 3})
        items.to_parquet(tmp / "items.parquet")
        parsed = read_table(tmp / "items.parquet")
        validated, cols = validate_items(parsed, task)
        import_items(db, task, parsed, validated, cols)
        task = get_task(db, "sent")

        labels = pd.DataFrame({
            "item_id": np.char.add("i", rng.integers(0, n_items, n_rows).astype(str)),
            "rater": np.array(["gpt-4o", "claude-3", "llama-3", "gemini"])[np.arange(n_rows) % 4],
            "value": np.array(["pos", "neg", "neu"])[rng.integers(0, 3, n_rows)],
            "confidence": rng.random(n_rows).round(3),
            "batch": np.char.add("b", (np.arange(n_rows) // 4 // n_items).astype(str)),
            "sample_index": (np.arange(n_rows) // 4) % n_items * 0,
        })
        labels["sample_index"] = labels.groupby(["item_id", "rater", "batch"]).cumcount()
        labels.to_parquet(tmp / "labels.parquet")

        t0 = time.perf_counter()
        parsed = read_table(tmp / "labels.parquet")
        from labelgate.store.items import get_items

        known = set(get_items(db, task.task_id)["item_id"])
        checked = validate_labels(parsed, task, source="llm", known_items=known)
        t_validate = time.perf_counter() - t0
        result = import_labels(db, task, parsed, checked, source="llm")
        t_import = time.perf_counter() - t0
        assert result.n_added == n_rows, result

        sample = labels.head(20_000)
        con = duckdb.connect(str(tmp / "baseline.duckdb"))
        con.execute("CREATE TABLE l (item_id VARCHAR, rater VARCHAR, value VARCHAR, confidence DOUBLE,"
                    " batch VARCHAR, sample_index INTEGER)")
        t0 = time.perf_counter()
        con.executemany("INSERT INTO l VALUES (?, ?, ?, ?, ?, ?)", sample.values.tolist())
        t_many = (time.perf_counter() - t0) * n_rows / len(sample)
        con.close()

    print(f"import of {n_rows:,} LLM label rows from Parquet")
    print(f"{'method':<44}{'seconds':>10}{'rows/s':>14}")
    print(f"{'labelgate import (read+validate)':<44}{t_validate:>10.2f}{n_rows / t_validate:>14,.0f}")
    print(f"{'labelgate import (total, one transaction)':<44}{t_import:>10.2f}{n_rows / t_import:>14,.0f}")
    print(f"{'executemany row by row (extrapolated)':<44}{t_many:>10.2f}{n_rows / t_many:>14,.0f}")
    print(f"ratio: labelgate import is {t_many / t_import:,.0f}x faster than executemany")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
