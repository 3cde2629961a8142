"""Tests for qc.drift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

from qc.drift import (
    anchor_drift,
    distribution_drift,
    label_counts,
    label_entropy,
    lexical_diversity,
    semantic_diversity,
)


# ---------------------------------------------------------------- anchors
def test_anchor_drift_numeric_matches_scipy():
    rng = np.random.default_rng(0)
    a = rng.integers(1, 6, 200).astype(float)
    b = np.clip(a + rng.choice([0, 0, 0, 1], 200), 1, 5)
    d = anchor_drift(a, b)
    diff = b - a
    lo, hi = stats.t.interval(0.95, 199, loc=diff.mean(), scale=stats.sem(diff))
    assert (d.mean_shift.ci_low, d.mean_shift.ci_high) == pytest.approx((lo, hi), abs=1e-12)
    assert d.flip_rate.estimate == pytest.approx(np.mean(diff != 0))
    assert d.flip_rate.ci_low == pytest.approx(1 - d.agreement.ci_high)
    assert d.n == 200 and d.mean_shift.ci_low > 0


def test_anchor_drift_categorical_and_missing():
    d = anchor_drift(["a", "b", None, "c"], ["a", "c", "b", "c"])
    assert d.n == 3 and d.mean_shift is None
    assert d.flip_rate.estimate == pytest.approx(1 / 3)
    assert anchor_drift([1.0, 2.0], [1.2, 2.1], tolerance=0.25).flip_rate.estimate == 0.0


def test_anchor_drift_errors():
    with pytest.raises(ValueError, match="same length"):
        anchor_drift([1, 2], [1])
    with pytest.raises(ValueError, match="no anchor items"):
        anchor_drift([None], [1])


# ---------------------------------------------------------------- distributions
def test_label_counts_and_entropy_match_scipy():
    rng = np.random.default_rng(1)
    batch = rng.choice(["w1", "w2", "w3"], 3000)
    lab = rng.choice(["a", "b", "c", "d"], 3000)
    c = label_counts(batch, lab)
    assert c.shape == (3, 4) and c.to_numpy().sum() == 3000
    h = label_entropy(c)
    for w in c.index:
        assert h[w] == pytest.approx(stats.entropy(c.loc[w].to_numpy(), base=2), abs=1e-12)
    assert label_entropy(c.loc["w1"]) == pytest.approx(h["w1"])
    assert np.allclose(label_entropy(c.to_numpy()), h.to_numpy())


def test_distribution_drift_from_sql_counts():
    # what a GROUP BY batch, label returns, pivoted
    long = pd.DataFrame(
        {
            "batch": ["base", "base", "base", "new", "new", "new", "bad", "bad", "empty"],
            "label": ["A", "B", "C", "A", "B", "C", "A", "B", "A"],
            "count": [400, 350, 250, 390, 360, 250, 950, 50, 0],
        }
    )
    counts = long.pivot_table(index="batch", columns="label", values="count", fill_value=0)
    out = distribution_drift(counts, "base")
    assert list(out.index) == ["bad", "base", "empty", "new"]
    assert out.loc["base", "js"] == pytest.approx(0.0, abs=1e-12)
    p = (counts.loc["new"].to_numpy() + 0.5) / (1000 + 1.5)
    q = (counts.loc["base"].to_numpy() + 0.5) / (1000 + 1.5)
    assert out.loc["new", "js"] == pytest.approx(jensenshannon(p, q, base=2) ** 2, abs=1e-12)
    assert out.loc["bad", "collapsed"] and out.loc["bad", "top_label"] == "A"
    assert out.loc["bad", "top_share"] == pytest.approx(0.95)
    assert not out.loc["new", "collapsed"] and not out.loc["empty", "collapsed"]
    assert np.isnan(out.loc["empty", "js"]) and out.loc["empty", "n"] == 0
    # baseline as a Series of counts, missing a label, aligned by name
    out2 = distribution_drift(counts, pd.Series({"A": 400, "B": 350}))
    assert out2.loc["base", "baseline_entropy"] == pytest.approx(stats.entropy([400, 350], base=2))


def test_distribution_drift_entropy_collapse_rule():
    c = pd.DataFrame({"a": [25, 60], "b": [25, 35], "c": [25, 5], "d": [25, 0]}, index=["base", "now"])
    out = distribution_drift(c, "base", min_entropy_ratio=0.7, max_share=0.99)
    assert out.loc["now", "entropy_ratio"] < 0.7 and out.loc["now", "collapsed"]
    assert not distribution_drift(c, "base", min_entropy_ratio=0.5, max_share=0.99).loc["now", "collapsed"]


def test_distribution_drift_errors():
    c = pd.DataFrame({"a": [1, 2]}, index=["x", "y"])
    with pytest.raises(ValueError, match="not a row"):
        distribution_drift(c, "z")
    with pytest.raises(ValueError, match="one per label"):
        distribution_drift(c, [1, 2])
    with pytest.raises(ValueError, match="non-negative"):
        distribution_drift(pd.DataFrame({"a": [-1]}), [1])
    with pytest.raises(ValueError, match="no labels"):
        distribution_drift(c, [0])
    with pytest.raises(ValueError, match="labels not in counts"):
        distribution_drift(c, pd.Series({"a": 1, "zz": 3}))


# ---------------------------------------------------------------- diversity
def test_lexical_diversity_known_values():
    d = lexical_diversity(["The cat, the hat.", "A dog", None])
    # tokens: the cat the hat | a dog -> 6 tokens, 5 types; bigrams: 3 + 1, all distinct
    assert d["n_tokens"] == 6
    assert d["distinct_1"] == pytest.approx(5 / 6) and d["distinct_2"] == 1.0
    assert d["type_token_ratio"] == pytest.approx((3 / 4 + 1) / 2)
    assert np.isnan(lexical_diversity([""])["distinct_1"])


def test_semantic_diversity_matches_pairwise_cosine():
    rng = np.random.default_rng(0)
    vocab = ["good", "bad", "clear", "wrong", "answer", "helpful", "concise", "verbose"]
    texts = [" ".join(rng.choice(vocab, rng.integers(1, 6))) for _ in range(60)] + [""]
    X = TfidfVectorizer(token_pattern=r"(?u)\b\w+\b").fit_transform(texts)
    S = cosine_similarity(X)
    iu = np.triu_indices(len(texts), 1)
    expected = 1 - S[iu].mean()
    got = semantic_diversity(texts)
    assert got["mean_cosine_distance"] == pytest.approx(expected, abs=1e-12) and got["n_used"] == 61


def test_semantic_diversity_subsamples_reproducibly():
    texts = [f"text number {i} about topic {i % 7}" for i in range(300)]
    a = semantic_diversity(texts, max_items=50, seed=1)
    assert a["n_used"] == 50 and a == semantic_diversity(texts, max_items=50, seed=1)
    assert a != semantic_diversity(texts, max_items=50, seed=2)
    with pytest.raises(ValueError, match="two texts"):
        semantic_diversity(["only one"])
    with pytest.raises(ValueError, match="max_items"):
        semantic_diversity(texts, max_items=1)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_semantic_diversity_equals_scikit_learns_tfidf_on_mixed_text(seed):
    """qc computes the TF-IDF itself (no scikit-learn import); same numbers as TfidfVectorizer."""
    rng = np.random.default_rng(seed)
    words = ["Good", "good", "BAD", "naïve", "Straße", "x_1", "42", "it's", "e-mail", "¿qué?", "a", "answer."]
    texts = [" ".join(rng.choice(words, rng.integers(0, 9))) + rng.choice(["", "!", " ...", "\n"])
             for _ in range(int(rng.integers(2, 120)))]
    X = TfidfVectorizer(token_pattern=r"(?u)\b\w+\b").fit_transform(texts)
    S = cosine_similarity(X)
    expected = 1 - S[np.triu_indices(len(texts), 1)].mean()
    got = semantic_diversity(texts)["mean_cosine_distance"]
    assert got == pytest.approx(min(max(expected, 0.0), 1.0), abs=1e-12)
