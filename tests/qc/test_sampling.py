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
