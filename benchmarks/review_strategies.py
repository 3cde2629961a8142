"""Targeted review on real data: errors found per 100 items labeled, by strategy, against random.

    .venv/bin/python benchmarks/review_strategies.py

On the shipped UK-Acts demo (data/demo_cap/: 1,000 titles with CAP expert gold and zero-shot labels
of LLMs from five families), for two labelers of different families, each strategy's expected
errors per 100 items of a draw of 10% (pi-ps with a 10% floor; the error predictor cross-fitted on
the gold), printed beside the random control drawn the same way, and the ratio.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from labelgate import targeted
from labelgate.demo import CAP_TASK, load_cap_demo
from labelgate.store import Database
from labelgate.store.tasks import get_task

LABELERS = ("GPT-4o (2024-11-20)", "Llama 3.1 (70B-L)")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "cap.duckdb")
        load_cap_demo(db)
        task = get_task(db, CAP_TASK)
        for labeler in LABELERS:
            t0 = time.perf_counter()
            table = targeted.compare_strategies(db, task, labeler, n_resamples=1000)
            took = time.perf_counter() - t0
            print(f"{labeler} (draws of 10% of the gold items, {took:.1f} s):")
            for r in table.itertuples():
                if r.per_100 != r.per_100:
                    print(f"  {r.strategy:<16} not available: {r.note}")
                    continue
                note = f"  ({r.note})" if r.note else ""
                print(f"  {r.strategy:<16} {r.per_100:5.1f} errors per 100 [{r.ci_low:.1f}, {r.ci_high:.1f}]  "
                      f"{r.vs_random:.1f}x random{note}")
        db.close()


if __name__ == "__main__":
    main()
