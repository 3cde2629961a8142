"""Routing by expertise: the cost of serving the next item with a domain column, beside the same
queue without routing, measured in the same run on the same DuckDB file.

Workload: 5,000 items in 4 domains, a calibration set of 1,000, 8 experts (two per domain, tagged),
two experts per item; each expert takes and answers 40 items in turn (320 answers), timing each
queue read. Prints the median and p95 per item served, and the ratio routed / plain.

    .venv/bin/python benchmarks/routing_bench.py
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labelgate import labeling  # noqa: E402
from labelgate.importer import read_table, validate_items  # noqa: E402
from labelgate.store import Database  # noqa: E402
from labelgate.store.imports import import_items  # noqa: E402
from labelgate.store.tasks import create_task, get_task, set_task_routing  # noqa: E402
from labelgate.store.users import add_user, set_user_tags  # noqa: E402
from labelgate.tasks import make_spec  # noqa: E402

DOMAINS = ("legal", "medical", "code", "general")


def build(folder: Path) -> Path:
    path = folder / "base.duckdb"
    db = Database(path)
    task = create_task(db, "qa", "categorical", make_spec("categorical", labels=["1", "2"]))
    rng = np.random.default_rng(0)
    ids = [f"i{i:05d}" for i in range(5000)]
    pd.DataFrame({"item_id": ids, "text": [f"q {i}" for i in ids],
                  "domain": rng.choice(DOMAINS, len(ids))}).to_csv(folder / "items.csv", index=False)
    parsed = read_table(folder / "items.csv")
    items, cols = validate_items(parsed, task)
    import_items(db, task, parsed, items, cols)
    labeling.draw_calibration_set(db, get_task(db, "qa"), size=1000, seed=0, experts_per_item=2, overlap_share=0.0)
    for k, d in enumerate(np.repeat(DOMAINS, 2)):
        add_user(db, f"e{k}", "expert", "pw-123456789")
        set_user_tags(db, f"e{k}", d)
    db.close()
    return path


def run(path: Path, routed: bool) -> np.ndarray:
    db = Database(path)
    if routed:
        set_task_routing(db, "qa", domain_column="domain", others_may_label=True)
    task = get_task(db, "qa")
    times = []
    for _ in range(40):
        for k in range(8):
            t0 = time.perf_counter()
            item = labeling.next_item(db, task, f"e{k}", retest_share=0)
            times.append(time.perf_counter() - t0)
            labeling.submit_answer(db, task, f"e{k}", item, answer="1")
    db.close()
    return np.array(times) * 1000


def main() -> None:
    labeling.OVERLAP_MIN_ITEMS = 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        base = build(folder)
        shutil.copy(base, folder / "plain.duckdb")
        shutil.copy(base, folder / "routed.duckdb")
        plain = run(folder / "plain.duckdb", routed=False)
        routed = run(folder / "routed.duckdb", routed=True)
    for name, t in (("plain queue", plain), ("routed queue", routed)):
        print(f"{name:<13} median {np.median(t):7.2f} ms   p95 {np.percentile(t, 95):7.2f} ms   ({len(t)} items)")
    print(f"ratio routed / plain: median {np.median(routed) / np.median(plain):.2f}x, "
          f"p95 {np.percentile(routed, 95) / np.percentile(plain, 95):.2f}x")


if __name__ == "__main__":
    main()
