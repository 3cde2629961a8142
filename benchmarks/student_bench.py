"""Student preview at scale: 5,000 items x 6 arms x 5 seeds x 5 curve points, beside a naive loop.

    .venv/bin/python benchmarks/student_bench.py [--items 5000] [--naive-fits 20]

Synthetic items (about 270 characters, like the UK-Acts demo; a 10% minority class readable from
words) with an LLM that maps 40% of the minority to the majority. labelgate's preview fits the
TF-IDF once per fold and shares it across every arm, seed and curve point. The baseline is the
naive loop: a fresh vectorizer and model for every one of the same fits; it takes many minutes,
so it is timed on `--naive-fits` fits and extrapolated linearly to all of them (said so in the
output). Aim: the full preview under 30 s on 2 cores.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from qc.student import DEFAULT_CURVE, Arm, _Student, _vectorizer, student_preview

WORDS = ("act provision order amendment county council scotland wales duty tax court licence pension housing "
         "railway harbour education water police land fishery insurance").split()
TECH = "telecommunications broadcasting research satellite patents computer science wireless".split()


def corpus(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(n) < 0.1, "technology", "other")
    texts = []
    for c in y:
        words = list(rng.choice(WORDS, size=36))
        if c == "technology":
            words[:3] = rng.choice(TECH, size=3)
        rng.shuffle(words)
        texts.append(" ".join(words))
    llm = np.where((y == "technology") & (rng.random(n) < 0.4), "other", y)
    return texts, y, llm, rng


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=5000)
    ap.add_argument("--naive-fits", type=int, default=20)
    args = ap.parse_args()
    texts, y, llm, rng = corpus(args.items)
    gold = np.where(np.arange(args.items) < args.items // 2, y, None)   # half the items have gold
    conf = rng.random(args.items)
    arms = [Arm("gold", gold), Arm("llm gold items", np.where(gold != None, llm, None)),  # noqa: E711
            Arm("llm all", llm), Arm("mix", np.where(gold != None, gold, llm)),  # noqa: E711
            Arm("confidence", llm, keep_score=conf, retention=0.8, base="llm all"),
            Arm("error filter", llm, error_filter=True, retention=0.8, base="llm all")]
    fits = []
    t0 = time.perf_counter()
    p = student_preview(texts, gold, arms, n_seeds=5, curve=DEFAULT_CURVE, on_fit=lambda *a: fits.append(a[-1].size))
    ours = time.perf_counter() - t0
    print(f"labelgate preview: {len(fits)} student fits on {args.items:,} items in {ours:.1f} s "
          f"(aim < 30 s); llm macro-F1 loss {p.arm('llm all').f1_loss.estimate:.3f}")

    sample = [fits[i] for i in np.linspace(0, len(fits) - 1, args.naive_fits).astype(int)]
    t0 = time.perf_counter()
    codes = (y == "technology").astype(np.int64)
    for size in sample:
        rows = rng.choice(args.items, size=size, replace=False)
        vec = _vectorizer(20000).fit([texts[i] for i in rows])
        X = vec.transform(texts)
        _Student(4.0).fit(X[rows], codes[rows], np.ones(size), 2).predict(X)
    naive = (time.perf_counter() - t0) / len(sample) * len(fits)
    print(f"naive loop (fresh vectorizer and model per fit): {naive:.1f} s, extrapolated from {len(sample)} of "
          f"{len(fits)} fits")
    print(f"ratio: {naive / ours:.1f}x faster")
    assert math.isfinite(ours)


if __name__ == "__main__":
    main()
