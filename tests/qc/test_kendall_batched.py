"""The batched (contingency-table) Kendall tau-b equals scipy's on the expanded resamples."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from qc.uncertainty import _kendall_batched, _kendall_if_few_values, _prep_table, bootstrap_ci


@pytest.mark.parametrize("seed", range(5))
def test_weighted_tables_match_scipy_on_the_expanded_sample(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 80))
    x = rng.integers(1, 6, n).astype(float)
    y = np.clip(x + rng.integers(-2, 3, n), 1, 5) + rng.choice([0, 0.5], n)  # fractional scores too
    w = rng.integers(0, 4, (20, n)).astype(float)
    w[:, 0] += 1
    got = _kendall_batched(_prep_table(x, y, None), w)
    for r in range(len(w)):
        idx = np.repeat(np.arange(n), w[r].astype(int))
        want = stats.kendalltau(x[idx], y[idx]).statistic
        if np.isnan(want):
            assert np.isnan(got[r])
        else:
            assert got[r] == pytest.approx(want, abs=1e-12)


def test_constant_resample_is_undefined_and_many_values_fall_back_to_the_loop():
    state = _prep_table([1.0, 1.0, 2.0], [1.0, 2.0, 3.0], None)
    assert np.isnan(_kendall_batched(state, np.array([[2.0, 1.0, 0.0]])))[0]
    rng = np.random.default_rng(0)
    assert _kendall_if_few_values(rng.normal(size=200), rng.normal(size=200)) is None
    assert _kendall_if_few_values([1, 2, 3], [3, 2, 1]) is not None


def test_bootstrap_ci_is_unchanged_in_distribution():
    rng = np.random.default_rng(3)
    x = rng.integers(1, 6, 300)
    y = np.clip(x + rng.integers(-1, 2, 300), 1, 5)
    e = bootstrap_ci(x, y, metric="kendall_tau", n_resamples=2000, seed=0)
    assert e.estimate == pytest.approx(stats.kendalltau(x, y).statistic)
    assert e.ci_low < e.estimate < e.ci_high and e.ci_high - e.ci_low < 0.1


def test_bootstrap_cis_equals_bootstrap_ci_per_metric_with_and_without_groups():
    from qc.uncertainty import bootstrap_cis

    rng = np.random.default_rng(7)
    x = rng.integers(1, 6, 120)
    y = np.clip(x + rng.integers(-1, 2, 120), 1, 5)
    labels = ["1", "2", "3", "4", "5"]
    xs, ys = x.astype(str), y.astype(str)
    groups = np.repeat(np.arange(60), 2)
    for g in (None, groups):
        data = {"acc": (xs, ys, "accuracy", labels), "qk": (xs, ys, "quadratic_kappa", labels),
                "r": (x, y, "pearson", None), "tau": (x, y, "kendall_tau", None), "mae": (x, y, "mae", None)}
        many = bootstrap_cis(data, n_resamples=300, seed=2, groups=g)
        for name, (a, b, metric, labs) in data.items():
            one = bootstrap_ci(a, b, metric=metric, n_resamples=300, seed=2, groups=g, labels=labs)
            assert many[name].estimate == pytest.approx(one.estimate)
            assert (many[name].ci_low, many[name].ci_high) == pytest.approx((one.ci_low, one.ci_high))
            assert many[name].method == one.method
    # a metric undefined on the whole sample is left out
    assert bootstrap_cis({"k": (["a"] * 5, ["a"] * 5, "pearson", None)}, n_resamples=10) == {}
