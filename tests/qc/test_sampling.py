"""Tests for qc.sampling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qc.sampling import allocate, stratified_sample


# ---------------------------------------------------------------- allocation
def test_allocate_proportional_largest_remainder_exact_total():
    # quotas 3.33, 3.33, 3.33 -> one gets the extra; total exactly 10
    c = allocate([10, 10, 10], 10)
    assert c.sum() == 10 and sorted(c.tolist()) == [3, 3, 4]
    # quotas 7*[0.6,0.3,0.1] = 4.2, 2.1, 0.7 -> floors 4,2,0 ; remainder to 0.7
    assert allocate([60, 30, 10], 7).tolist() == [4, 2, 1]


@pytest.mark.parametrize("seed", range(200))
def test_allocate_randomized_invariants(seed):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, 40, size=rng.integers(1, 8))
    size = int(rng.integers(0, sizes.sum() + 5))
    for how in ("proportional", "equal"):
        c = allocate(sizes, size, allocation=how)
        assert c.sum() == min(size, sizes.sum())
        assert np.all(c <= sizes) and np.all(c >= 0)
    c = allocate(sizes, size)
    if sizes.sum():
        quota = min(size, sizes.sum()) * sizes / sizes.sum()
        assert np.all(np.abs(c - quota) < 1)  # largest remainder: within one of the quota
    e = allocate(sizes, size, allocation="equal")
    # water-filling: any stratum not exhausted is within one of the largest count
    not_full = e < sizes
    if not_full.any():
        assert e.max() - e[not_full].min() <= 1


def test_allocate_equal_redistributes_small_strata():
    assert allocate([100, 100, 3], 30, allocation="equal").tolist() == [14, 13, 3]
    assert allocate([5, 5], 100, allocation="equal").tolist() == [5, 5]


def test_allocate_errors():
    with pytest.raises(ValueError, match="allocation"):
        allocate([3, 4], 2, allocation="neyman")
    with pytest.raises(ValueError, match="non-negative"):
        allocate([3, -1], 2)
    with pytest.raises(ValueError, match="size"):
        allocate([3, 4], -2)
    with pytest.raises(ValueError, match="non-empty"):
        allocate([], 2)


# ---------------------------------------------------------------- stratified_sample
def _counts(strata, idx):
    return pd.Series(np.asarray(strata, dtype=object)[idx]).fillna("missing").value_counts().to_dict()


def test_stratified_proportional_counts_and_reproducibility():
    strata = ["a"] * 500 + ["b"] * 300 + ["c"] * 200
    idx = stratified_sample(strata, 100, seed=3)
    assert _counts(strata, idx) == {"a": 50, "b": 30, "c": 20}
    assert len(np.unique(idx)) == 100
    assert np.array_equal(idx, stratified_sample(strata, 100, seed=3))
    assert not np.array_equal(np.sort(idx), np.sort(stratified_sample(strata, 100, seed=4)))
    # draw order is not simply sorted positions
    assert not np.array_equal(idx, np.sort(idx))


def test_stratified_equal_allocation():
    strata = np.array(["big"] * 900 + ["mid"] * 90 + ["tiny"] * 4)
    idx = stratified_sample(strata, 60, allocation="equal", seed=0)
    assert _counts(strata, idx) == {"big": 28, "mid": 28, "tiny": 4}


def test_stratified_missing_is_its_own_stratum():
    strata = ["x"] * 10 + [None] * 5 + [float("nan")] * 5
    idx = stratified_sample(strata, 10, seed=0)
    assert _counts(strata, idx) == {"x": 5, "missing": 5}
    # numeric strata with NaN work too
    num = np.r_[np.ones(10), np.full(10, np.nan)]
    assert _counts(num, stratified_sample(num, 4, seed=0)) == {1.0: 2, "missing": 2}


def test_stratified_size_capped_and_zero():
    strata = ["a", "b", "b"]
    assert sorted(stratified_sample(strata, 10).tolist()) == [0, 1, 2]
    assert stratified_sample(strata, 0).size == 0
    assert stratified_sample(pd.Series(strata), 2).dtype == np.int64


def test_stratified_within_stratum_is_uniform():
    # each of the 10 items of stratum "a" should be chosen ~ half the time
    strata = ["a"] * 10 + ["b"] * 10
    hits = np.zeros(20)
    for s in range(400):
        hits[stratified_sample(strata, 10, seed=s)] += 1
    assert np.all(np.abs(hits / 400 - 0.5) < 0.1)


def test_stratified_accepts_generator():
    a = stratified_sample(["a", "b"] * 10, 5, seed=np.random.default_rng(7))
    b = stratified_sample(["a", "b"] * 10, 5, seed=np.random.default_rng(7))
    assert np.array_equal(a, b)


def test_stratified_errors():
    with pytest.raises(ValueError, match="empty"):
        stratified_sample([], 3)
    with pytest.raises(ValueError, match="one-dimensional"):
        stratified_sample(np.zeros((2, 2)), 1)
    with pytest.raises(ValueError, match="allocation"):
        stratified_sample(["a"], 1, allocation="optimal")
    with pytest.raises(ValueError, match="seed"):
        stratified_sample(["a"], 1, seed=None)
    with pytest.raises(ValueError, match="size"):
        stratified_sample(["a"], 1.5)


# ---------------------------------------------------------------- active selection
from qc.sampling import (  # noqa: E402
    disagreement_rate,
    fit_error_predictor,
    sample_entropy,
    score_error_predictor,
    select_disagreement,
    select_high_entropy,
    select_low_confidence,
    top_k,
)


def test_select_low_confidence_orders_and_caps():
    c = [0.9, 0.2, 0.5, 0.2, 0.99]
    assert select_low_confidence(c, 3).tolist() == [1, 3, 2]
    assert select_low_confidence(c, 50).tolist() == [1, 3, 2, 0, 4]
    assert select_low_confidence(c, 0).size == 0


def test_select_low_confidence_errors():
    with pytest.raises(ValueError, match="NaN"):
        select_low_confidence([0.5, np.nan], 1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        select_low_confidence([0.5, 1.5], 1)
    with pytest.raises(ValueError, match="k must be"):
        select_low_confidence([0.5], -1)


def test_sample_entropy_matches_scipy():
    from scipy.stats import entropy

    rng = np.random.default_rng(0)
    samples = rng.integers(0, 4, size=(300, 7))
    expected = [entropy(np.bincount(r, minlength=4), base=2) for r in samples]
    assert np.allclose(sample_entropy(samples), expected, atol=1e-12)
    assert np.allclose(sample_entropy(samples, base=np.e), np.array(expected) * np.log(2), atol=1e-12)


def test_sample_entropy_missing_samples():
    h = sample_entropy(pd.DataFrame({"s1": ["a", None, None], "s2": ["b", "a", None]}))
    assert h[0] == pytest.approx(1.0) and h[1] == 0.0 and np.isnan(h[2])
    with pytest.raises(ValueError, match="two-dimensional"):
        sample_entropy(["a", "b"])


def test_select_high_entropy_ranks_uncertain_items_first():
    samples = [["a"] * 5, ["a", "b", "c", "d", "e"], ["a", "a", "a", "b", "b"], [None] * 5]
    assert select_high_entropy(samples, 4).tolist() == [1, 2, 0, 3]


def test_disagreement_rate_and_selection():
    labels = pd.DataFrame(
        {
            "gpt": ["A", "A", "A", "B", None],
            "claude": ["A", "B", "B", "B", None],
            "llama": ["A", "C", "A", "B", None],
        }
    )
    r = disagreement_rate(labels)
    assert r[:4].round(4).tolist() == [0.0, 0.6667, 0.3333, 0.0] and np.isnan(r[4])
    assert select_disagreement(labels, 3).tolist() == [1, 2, 0]


def test_top_k_errors():
    with pytest.raises(ValueError, match="NaN"):
        top_k([1.0, np.nan], 1)


# ---------------------------------------------------------------- error predictor
def _error_data(n, seed):
    rng = np.random.default_rng(seed)
    length = rng.gamma(2.0, 100.0, size=n)
    domain = rng.choice(["code", "math", "chat"], size=n)
    words = rng.choice(["please", "summarize", "translate", "explain"], size=n)
    text = np.where(rng.random(n) < 0.3, "sarcasm " + words, words)
    logit = -2.0 + 1.2 * (length > 250) + 1.5 * (domain == "math") + 2.0 * np.char.startswith(text, "sarcasm")
    err = rng.random(n) < 1 / (1 + np.exp(-logit))
    X = pd.DataFrame({"length": length, "domain": domain, "prompt": text})
    return X, err


def test_error_predictor_learns_signal_and_is_reproducible():
    X, err = _error_data(600, 1)
    p = fit_error_predictor(X, err, text="prompt", seed=3)
    assert p.numeric == ("length",) and p.categorical == ("domain",) and p.text == ("prompt",)
    assert p.cv_auroc > 0.75 and len(p.fold_auroc) == 5 and p.n == 600 and p.n_errors == int(err.sum())
    p2 = fit_error_predictor(X, err, text="prompt", seed=3)
    assert p2.cv_auroc == p.cv_auroc
    # fresh items: scores rank errors high
    from sklearn.metrics import roc_auc_score

    Xn, errn = _error_data(400, 2)
    s = score_error_predictor(p, Xn)
    assert s.shape == (400,) and roc_auc_score(errn, s) > 0.75
    # without text the model is worse: the text feature carries signal
    p_no_text = fit_error_predictor(X.drop(columns="prompt"), err, seed=3)
    assert p_no_text.cv_auroc < p.cv_auroc


def test_error_predictor_noise_gives_chance_auroc():
    rng = np.random.default_rng(5)
    X = pd.DataFrame({"a": rng.normal(size=400), "b": rng.choice(list("xyz"), 400)})
    p = fit_error_predictor(X, rng.random(400) < 0.3, seed=0)
    assert 0.35 < p.cv_auroc < 0.65


def test_error_predictor_cv_is_out_of_fold():
    # an item id feature lets the model memorize; out-of-fold it cannot help
    rng = np.random.default_rng(0)
    n = 200
    X = pd.DataFrame({"item": [f"id{i}" for i in range(n)]})
    err = rng.random(n) < 0.5
    p = fit_error_predictor(X, err, categorical=["item"], C=1e4, seed=0)
    in_sample = score_error_predictor(p, X)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(err, in_sample) > 0.99
    assert p.cv_auroc < 0.65


def test_error_predictor_unseen_categories_and_missing_values():
    X, err = _error_data(300, 4)
    X.loc[::7, "length"] = np.nan
    X.loc[::5, "domain"] = None
    p = fit_error_predictor(X, err, text=["prompt"], seed=0)
    new = pd.DataFrame({"length": [np.nan, 100.0], "domain": ["poetry", None], "prompt": [None, "sarcasm x"]})
    s = score_error_predictor(p, new)
    assert s.shape == (2,) and np.all((s > 0) & (s < 1))


def test_error_predictor_errors():
    X = pd.DataFrame({"a": np.arange(20.0)})
    with pytest.raises(ValueError, match="one class"):
        fit_error_predictor(X, np.zeros(20, bool))
    with pytest.raises(ValueError, match="one entry per row"):
        fit_error_predictor(X, np.zeros(19, bool))
    with pytest.raises(ValueError, match="DataFrame"):
        fit_error_predictor(X.to_numpy(), np.zeros(20, bool))
    with pytest.raises(ValueError, match="not found"):
        fit_error_predictor(X, np.r_[np.zeros(10), np.ones(10)].astype(bool), text="prompt")
    with pytest.raises(ValueError, match="n_splits"):
        fit_error_predictor(X, np.r_[np.zeros(17), np.ones(3)].astype(bool))
    with pytest.raises(ValueError, match="missing"):
        fit_error_predictor(X, [True, None] * 10)
    p = fit_error_predictor(X, np.r_[np.zeros(10), np.ones(10)].astype(bool))
    with pytest.raises(ValueError, match="not found"):
        score_error_predictor(p, pd.DataFrame({"b": [1.0]}))


def test_stratified_split_gives_every_part_its_share_of_every_stratum_within_one_item():
    from qc.sampling import stratified_split

    rng = np.random.default_rng(0)
    strata = rng.choice(["a", "b", "c", "d", "e"], size=503, p=[0.5, 0.2, 0.15, 0.1, 0.05])
    shares = np.array([0.2, 0.4, 0.4])
    parts = stratified_split(strata, shares, seed=5)
    assert np.all(np.abs(np.bincount(parts, minlength=3) - shares * len(strata)) <= 1)
    for s in np.unique(strata):
        got = np.bincount(parts[strata == s], minlength=3)
        assert np.all(np.abs(got - shares * (strata == s).sum()) <= 1), (s, got)
    assert np.array_equal(parts, stratified_split(strata, shares, seed=5))        # reproducible
    assert not np.array_equal(parts, stratified_split(strata, shares, seed=6))    # and seeded
    with pytest.raises(ValueError, match="shares must sum to 1"):
        stratified_split(strata, [0.2, 0.4, 0.3])
    with pytest.raises(ValueError, match="shares must be positive"):
        stratified_split(strata, [0.6, 0.4, 0.0])
