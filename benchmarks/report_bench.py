"""Benchmark `labelgate report --group-by` beside the plain report (issue 9: at most 2x).

Run: .venv/bin/python benchmarks/report_bench.py

Workload shaped like Topical-Chat's USR ratings: 360 items (60 contexts x 6 responses), a 1-5
ordinal task with human gold, 7 LLM labelers x 20 sampled answers per item (50,400 LLM rows).
Both reports use B=1000 resamples for every interval; the grouped one adds each correlation
averaged per context with a cluster bootstrap over contexts (qc.uncertainty.grouped_correlation_ci).
Baseline for the grouped intervals: a Python loop of scipy calls over the resampled groups
(what `report --group-by` did before), measured on one labeler with 50 resamples and scaled to
7 labelers and B=1000.
Timings never gate the test suite.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

N_CONTEXTS, PER_CONTEXT, N_LABELERS, N_SAMPLES, B = 60, 6, 7, 20, 1000
B_LOOP = 50  # resamples the scipy loop really runs; its time is scaled to B


def build(db):
    from labelgate.importer import read_table, validate_items, validate_labels
    from labelgate.store.imports import import_items, import_labels
    from labelgate.store.tasks import create_task, get_task
    from labelgate.tasks import make_spec

    rng = np.random.default_rng(0)
    task = create_task(db, "usr", "ordinal", make_spec("ordinal", scale=(1, 5)), text_columns=["response"])
    n = N_CONTEXTS * PER_CONTEXT
    ids = [f"r{i:04d}" for i in range(n)]
    items = pd.DataFrame({"item_id": ids, "response": [f"response {i}" for i in range(n)],
                          "context": [f"ctx{i // PER_CONTEXT:02d}" for i in range(n)]})
    parsed = read_table("items.csv", data=items.to_csv(index=False).encode())
    rows, cols = validate_items(parsed, task, text_columns=["response"])
    import_items(db, task, parsed, rows, cols)
    task = get_task(db, "usr")
    truth = rng.integers(1, 6, n)

    def load(frame, name, source):
        p = read_table(name, data=frame.to_csv(index=False).encode())
        labels = validate_labels(p, task, source=source, known_items=set(ids))
        import_labels(db, task, p, labels, source=source)

    load(pd.DataFrame({"item_id": ids, "rater": "expert", "value": truth}), "gold.csv", "human")
    for k in range(N_LABELERS):
        noise = rng.normal(0, 0.6 + 0.1 * k, (N_SAMPLES, n))
        values = np.clip(np.round(truth + noise), 1, 5).astype(int)
        load(pd.DataFrame({"item_id": np.tile(ids, N_SAMPLES), "rater": f"judge-{k}", "value": values.ravel(),
                           "sample_index": np.repeat(np.arange(N_SAMPLES), n)}), f"judge{k}.csv", "llm")
    return task


def scipy_loop_grouped(pairs: pd.DataFrame, groups: pd.Series) -> float:
    """Seconds for the three grouped CIs of one labeler as a loop of scipy calls per resample, scaled to B."""
    from scipy import stats

    g = pairs["item_id"].map(groups).to_numpy()
    x, y = pairs["gold_num"].to_numpy(float), pairs["pred_num"].to_numpy(float)
    labels = pd.unique(g)
    members = [np.flatnonzero(g == k) for k in labels]
    idx = np.random.default_rng(0).integers(0, len(labels), (B_LOOP, len(labels)))
    t = time.perf_counter()
    for fn in (stats.pearsonr, stats.spearmanr, stats.kendalltau):
        reps = []
        for row in idx:
            vals = [fn(x[members[p]], y[members[p]])[0] for p in row]
            reps.append(np.nanmean(vals))
        np.nanpercentile(reps, [2.5, 97.5])
    return (time.perf_counter() - t) * B / B_LOOP


def main() -> None:
    from labelgate.analysis import judgments_vs_gold, report
    from labelgate.gold import load_gold
    from labelgate.store import Database
    from labelgate.store import gold as gold_store
    from labelgate.store.items import item_meta_frame

    db = Database(Path(tempfile.mkdtemp()) / "bench.duckdb")
    task = build(db)
    print(f"{N_CONTEXTS * PER_CONTEXT} items ({N_CONTEXTS} contexts x {PER_CONTEXT}), {N_LABELERS} labelers x "
          f"{N_SAMPLES} samples per item, B={B} for every interval")
    report(db, task, n_resamples=50)  # warm imports and DuckDB
    plain = grouped = float("inf")
    for _ in range(3):  # best of 3, alternating, so both see the same machine load
        t = time.perf_counter()
        report(db, task, n_resamples=B)
        plain = min(plain, time.perf_counter() - t)
        t = time.perf_counter()
        doc = report(db, task, group_by="context", n_resamples=B)
        grouped = min(grouped, time.perf_counter() - t)
    m = doc["labelers"][0]["metrics"]["kendall_tau_grouped"]
    groups = item_meta_frame(db, task.task_id).set_index("item_id")["context"]
    judgments = gold_store.llm_judgments(db, task.task_id)
    pairs = judgments_vs_gold(task, load_gold(db, task), judgments[judgments["labeler"] == "judge-0"]).frame
    loop = scipy_loop_grouped(pairs, groups) * N_LABELERS
    print(f"{'what':<56}{'seconds':>10}")
    print(f"{'report, plain':<56}{plain:>10.3f}")
    print(f"{'report --group-by context':<56}{grouped:>10.3f}")
    print(f"{'baseline: scipy loop, grouped CIs only (extrapolated)':<56}{loop:>10.3f}")
    print(f"ratio grouped / plain: {grouped / plain:.2f}x (aim <= 2x);  "
          f"scipy loop / grouped CIs' share: {loop / max(grouped - plain, 1e-9):.0f}x")
    print(f"judge-0 Kendall tau per context: {m['estimate']:.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}], "
          f"{m['n_groups']} contexts used, {m['n_groups_skipped']} skipped")


if __name__ == "__main__":
    main()
