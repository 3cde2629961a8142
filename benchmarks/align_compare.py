"""Benchmark the alignment lab's side-by-side comparison: 6 variants on 200 dev items, paired CIs.

Run: .venv/bin/python benchmarks/align_compare.py

Set-up (not timed): a categorical task of 500 gold items split 20/40/40 (200 dev items); six variants
(few-shot k 0..10, with or without the key phrase) run by `labelgate.align.variants.run_variants` on dev
against the in-process prompt-sensitive FakeLLMServer.

- lab: `labelgate.align.side_by_side` as the Compare page calls it (once the labels exist): per
  variant the three metrics with bootstrap CIs (B=2000), invalid rate, tokens, cost, latency; paired
  differences of the three metrics against the baseline with paired bootstrap CIs (B=2000) and
  McNemar's test, for the 5 other variants;
- baseline (naive, side by side in the same process): the same statistics as a Python loop of
  scikit-learn calls per resample plus statsmodels' McNemar, measured on one variant and one pair and
  scaled to 6 variants and 5 pairs.
Timings never gate the test suite.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

N_GOLD = 500
B = 2000
PHRASE = "Read the whole review before you decide."


def setup(tmp: Path):
    from labelgate.align import make_split
    from labelgate.align.variants import Variant, run_variants
    from labelgate.llm import RunOptions
    from labelgate.store.gold import append_adjudication
    from tests.labelgate.llm_helpers import PLANTED_KEY, expected_label, make_categorical
    from tests.llm_server import FakeLLMServer, PromptSensitiveJudge

    os.environ["OPENAI_API_KEY"] = PLANTED_KEY
    db, task = make_categorical(tmp, N_GOLD)
    for i in range(N_GOLD):
        append_adjudication(db, task.task_id, f"r{i:03d}", expected_label(f"review number {i:03d}"), None,
                            decided_by="lead", reason="bench gold")
    split = make_split(db, task)
    judge = PromptSensitiveJudge(lambda t: expected_label(t) if "review number" in t else None, phrase=PHRASE)
    with FakeLLMServer(answer=judge) as llm:
        common = dict(provider="openai", model="gpt-4o-mini", base_url=llm.openai_url, api_key_env="OPENAI_API_KEY")
        variants = [Variant(i + 1, f"v{i + 1} k={k}{' +phrase' if ph else ''}",
                            prompt=(PHRASE + "\n" if ph else "") + "Review:\n{item}\n\nAnswer with one of: {labels}.",
                            few_shot=k, seed=i, **common)
                    for i, (k, ph) in enumerate([(0, False), (0, True), (2, True), (4, True), (6, True), (10, True)])]
        fast = RunOptions(concurrency=8, timeout=5.0, max_retries=2, backoff_base=0.01, backoff_max=0.05,
                          flush_seconds=0.2)
        run_variants(db, task, variants, options=fast)
    return db, task, split, [v.name for v in variants]


def naive(db, task, split, names) -> tuple[float, float]:
    """Seconds for one variant's metric CIs and one pair's paired CIs + McNemar, as a sklearn loop."""
    from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score
    from statsmodels.stats.contingency_tables import mcnemar

    from labelgate.align.compare import _pairs, _versions
    from labelgate.gold import resolve_gold

    labels = list(task.labels)
    gold = resolve_gold(db, task)
    t0 = time.perf_counter()
    pairs = _pairs(db, task, gold, _versions(db, task, names[:2]), split.ids("dev"))
    a = pairs[names[1]].merge(pairs[names[0]][["item_id", "pred"]], on="item_id", suffixes=("_a", "_b"))
    y, pa, pb = a["gold"].to_numpy(), a["pred_a"].to_numpy(), a["pred_b"].to_numpy()
    fns = [accuracy_score, lambda t, p: cohen_kappa_score(t, p, labels=labels),
           lambda t, p: f1_score(t, p, labels=labels, average="macro", zero_division=0)]
    idx = np.random.default_rng(0).integers(0, len(y), (B, len(y)))
    for f in fns:
        np.percentile([f(y[i], pa[i]) for i in idx], [2.5, 97.5])
    one_variant = time.perf_counter() - t0
    t1 = time.perf_counter()
    for f in fns:
        np.percentile([f(y[i], pa[i]) - f(y[i], pb[i]) for i in idx], [2.5, 97.5])
    ca, cb = pa == y, pb == y
    mcnemar([[np.sum(ca & cb), np.sum(ca & ~cb)], [np.sum(~ca & cb), np.sum(~ca & ~cb)]], exact=True)
    one_pair = time.perf_counter() - t1
    return one_variant, one_pair


def main() -> None:
    from labelgate.align import side_by_side

    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        db, task, split, names = setup(Path(d))
        print(f"set-up: {len(names)} variants x {len(split.ids('dev'))} dev items labeled in "
              f"{time.perf_counter() - t:.1f} s (not timed below)")
        runs = []
        for _ in range(3):
            t = time.perf_counter()
            out = side_by_side(db, task, names, n_resamples=B)
            runs.append(time.perf_counter() - t)
        lab = min(runs)
        one_variant, one_pair = naive(db, task, split, names)
        base = one_variant * len(names) + one_pair * (len(names) - 1)
        for r in out["variants"]:
            m = r["metrics"]["accuracy"]
            d = r.get("versus_baseline", {}).get("metrics", {}).get("accuracy")
            vs = "" if d is None else (f"  vs {names[0]}: {d['estimate']:+.3f} [{d['ci_low']:+.3f}, "
                                       f"{d['ci_high']:+.3f}] McNemar p {d['mcnemar_p']:.2g}")
            print(f"  {r['name']:<18} accuracy {m['estimate']:.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}]"
                  f"{'  (Pareto)' if r['pareto'] else ''}{vs}")
        print(f"lab side_by_side (6 variants, 5 paired comparisons, B={B}): {lab:.2f} s (best of 3: "
              f"{', '.join(f'{x:.2f}' for x in runs)})")
        print(f"naive sklearn loop, same statistics: {base:.2f} s ({one_variant:.2f} s per variant x 6 + "
              f"{one_pair:.2f} s per pair x 5)")
        print(f"ratio naive / lab: {base / lab:.1f}x")


if __name__ == "__main__":
    main()
