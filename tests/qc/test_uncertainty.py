"""qc.uncertainty: batched metrics equal the point functions, bootstrap determinism, coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import qc.uncertainty as qu
from qc import agreement as ag
from qc.estimate import Estimate
from qc.uncertainty import BATCHED_METRICS, METRICS, bootstrap_ci, bootstrap_distribution, wilson_interval

TOL = 1e-9
CATEGORICAL = sorted(qu._CATEGORICAL)
CONTINUOUS = sorted(set(BATCHED_METRICS) - qu._CATEGORICAL)


def _ordinal_pair(rng, n):
    k = int(rng.integers(2, 6))
    t = rng.integers(1, k + 1, n)
    p = np.clip(t + rng.integers(-1, 2, n) * (rng.random(n) < 0.5), 1, k)
    return t, p


def _continuous_pair(rng, n):
    t = rng.normal(size=n)
    p = 0.6 * t + rng.normal(size=n) * 0.8
    if rng.random() < 0.5:  # ties
        t, p = np.round(t * 2), np.round(p * 2)
    return t, p


def _point_or_nan(fn, *args, **kw):
    try:
        return fn(*args, **kw)
    except ValueError:
        return math.nan


@pytest.mark.parametrize("name", CATEGORICAL)
@pytest.mark.parametrize("seed", range(8))
def test_batched_categorical_equals_point_on_expanded_sample(name, seed):
    rng = np.random.default_rng(seed)
    for _ in range(4):
        n = int(rng.integers(2, 40))
        t, p = _ordinal_pair(rng, n)
        labels = np.unique(np.concatenate([t, p]))
        w = rng.integers(0, 4, size=(25, n))
        w[:, rng.integers(n)] += 1  # no empty resample
        got = BATCHED_METRICS[name](t, p, w, labels=labels)
        want = [
            _point_or_nan(METRICS[name], np.repeat(t, row), np.repeat(p, row), labels=labels) for row in w
        ]
        np.testing.assert_allclose(got, want, atol=TOL)


@pytest.mark.parametrize("name", CONTINUOUS)
@pytest.mark.parametrize("seed", range(8))
def test_batched_continuous_equals_point_on_expanded_sample(name, seed):
    rng = np.random.default_rng(seed)
    for _ in range(4):
        n = int(rng.integers(2, 40))
        t, p = _continuous_pair(rng, n)
        w = rng.integers(0, 4, size=(25, n)).astype(float)
        w[:, rng.integers(n)] += 1
        got = BATCHED_METRICS[name](t, p, w)
        want = [_point_or_nan(METRICS[name], np.repeat(t, row.astype(int)), np.repeat(p, row.astype(int)))
                for row in w]
        np.testing.assert_allclose(got, want, atol=TOL)


def test_registry_covers_the_documented_metrics():
    names = {"accuracy", "cohen_kappa", "linear_kappa", "quadratic_kappa", "gwet_ac1", "macro_f1",
             "krippendorff_alpha", "pearson", "spearman", "kendall_tau", "mae", "rmse", "mean_signed_error"}
    assert names <= set(METRICS)
    assert set(BATCHED_METRICS) == set(METRICS) - {"kendall_tau"}


@pytest.mark.parametrize("name", sorted(METRICS))
def test_fast_path_equals_generic_loop_over_the_same_resamples(name):
    rng = np.random.default_rng(1)
    t, p = _ordinal_pair(rng, 60) if name in qu._CATEGORICAL else _continuous_pair(rng, 60)
    labels = np.unique(np.concatenate([t, p])) if name in qu._CATEGORICAL else None

    def loop(a, b):
        return METRICS[name](a, b, labels=labels)

    for groups in (None, rng.integers(0, 12, 60)):
        fast = bootstrap_distribution(t, p, metric=name, n_resamples=200, seed=4, groups=groups, labels=labels)
        slow = bootstrap_distribution(t, p, metric=loop, n_resamples=200, seed=4, groups=groups)
        assert fast[0] == pytest.approx(slow[0], abs=TOL)
        np.testing.assert_allclose(fast[1], slow[1], atol=TOL)
        assert fast[2] == slow[2]


def test_seeded_and_independent_of_chunk_size(monkeypatch):
    rng = np.random.default_rng(2)
    t, p = _ordinal_pair(rng, 300)
    a = bootstrap_ci(t, p, metric="quadratic_kappa", seed=11)
    assert bootstrap_ci(t, p, metric="quadratic_kappa", seed=11) == a
    assert bootstrap_ci(t, p, metric="quadratic_kappa", rng=np.random.default_rng(11)) == a
    assert bootstrap_ci(t, p, metric="quadratic_kappa", seed=12) != a
    monkeypatch.setattr(qu, "_CHUNK_BYTES", 300 * 8 * 7)  # a few rows per block
    assert bootstrap_ci(t, p, metric="quadratic_kappa", seed=11) == a
    assert bootstrap_ci(t, p, metric="pearson", seed=11) == pytest.approx(
        bootstrap_ci(t, p, metric="pearson", seed=11)
    )


def test_percentile_interval_and_estimate_fields():
    rng = np.random.default_rng(3)
    t, p = _continuous_pair(rng, 200)
    est, reps, n = bootstrap_distribution(t, p, metric="mae", n_resamples=500, seed=0)
    e = bootstrap_ci(t, p, metric="mae", n_resamples=500, level=0.9, seed=0)
    assert isinstance(e, Estimate)
    assert e.estimate == pytest.approx(ag.mean_absolute_error(t, p))
    assert (e.ci_low, e.ci_high) == pytest.approx(tuple(np.percentile(reps, [5, 95])))
    assert e.n == n == 200 and e.level == 0.9 and e.method == "percentile bootstrap (B=500)"


def test_undefined_resamples_are_ignored_and_reported():
    # 1 disagreement in 12 items: many resamples hold a single label -> kappa undefined
    t = np.array([1] * 11 + [2])
    p = np.array([1] * 11 + [2])
    e = bootstrap_ci(t, p, metric="cohen_kappa", n_resamples=300, seed=0)
    _, reps, _ = bootstrap_distribution(t, p, metric="cohen_kappa", n_resamples=300, seed=0)
    n_nan = int(np.isnan(reps).sum())
    assert 0 < n_nan < 300
    assert f"{n_nan} undefined resamples ignored" in e.method
    assert e.ci_low == e.ci_high == 1.0


def test_cluster_bootstrap_resamples_whole_groups():
    rng = np.random.default_rng(4)
    groups = np.repeat(np.arange(20), 10)
    # strong within-group correlation of the error: the cluster interval must be wider
    shift = rng.normal(size=20)[groups]
    t = rng.normal(size=200)
    p = t + shift + rng.normal(size=200) * 0.1
    iid = bootstrap_ci(t, p, metric="mean_signed_error", seed=0)
    clustered = bootstrap_ci(t, p, metric="mean_signed_error", seed=0, groups=groups)
    assert clustered.n == 20 and "cluster" in clustered.method
    assert clustered.ci_high - clustered.ci_low > 2 * (iid.ci_high - iid.ci_low)


@pytest.mark.parametrize("seed", range(10))
def test_wilson_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    for _ in range(20):
        n = int(rng.integers(1, 500))
        k = int(rng.integers(0, n + 1))
        level = float(rng.choice([0.8, 0.9, 0.95, 0.99]))
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=level, method="wilson")
        e = wilson_interval(k, n, level=level)
        assert (e.ci_low, e.ci_high) == pytest.approx((ci.low, ci.high), abs=TOL)
        assert e.estimate == k / n and e.method == "wilson"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: bootstrap_ci([1, 2, 3], [1, 2], metric="accuracy"), r"different lengths \(3 vs 2\)"),
        (lambda: bootstrap_ci([1, 2], [1, 2], metric="f2"), "metric must be a callable or one of"),
        (lambda: bootstrap_ci([1, 2], [1, 2], metric="mae", level=95), "level must be"),
        (lambda: bootstrap_ci([1, 2], [1, 2], metric="mae", n_resamples=0), "n_resamples"),
        (lambda: bootstrap_ci([1, 2], [1, 2], metric="mae", groups=[1]), "different lengths"),
        (lambda: bootstrap_ci([1, 2], [1, 2], metric="mae", groups=[1, 1]), "at least 2 groups"),
        (lambda: bootstrap_ci([1, np.nan], [1, 2], metric="mae"), "NaN"),
        (lambda: bootstrap_ci([1, 1], [1, 1], metric="cohen_kappa"), "undefined"),
        (lambda: bootstrap_ci([1, 2], [1, 2], metric="mae", rng=42), "numpy.random.Generator"),
        (lambda: wilson_interval(5, 4), "between 0 and n"),
        (lambda: wilson_interval(0, 0), "at least 1"),
        (lambda: wilson_interval(1.5, 4), "integer"),
        (lambda: BATCHED_METRICS["mae"]([1, 2], [1, 2], np.ones((3, 5))), r"shape \(b, 2\)"),
    ],
)
def test_invalid_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


_JOINT = np.array([[0.30, 0.06, 0.01], [0.05, 0.25, 0.05], [0.02, 0.06, 0.20]])


def _draw_joint(rng, n):
    cell = rng.choice(9, size=n, p=_JOINT.ravel())
    return cell // 3, cell % 3


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "draw", "truth"),
    [
        # accuracy of a labeler that is right with probability 0.8
        ("accuracy", lambda rng, n: (np.zeros(n, int), (rng.random(n) > 0.8).astype(int)), 0.8),
        # MAE of N(0, 1) errors: E|e| = sqrt(2 / pi)
        ("mae", lambda rng, n: (np.zeros(n), rng.normal(size=n)), math.sqrt(2 / math.pi)),
        # quadratic kappa of pairs drawn from a known 3 x 3 joint distribution
        ("quadratic_kappa", lambda rng, n: _draw_joint(rng, n), float(
            ag._kappa_from_cm(_JOINT, ag._weight_matrix(3, "quadratic")))),
    ],
)
def test_bootstrap_interval_covers_the_true_value_about_95_percent(name, draw, truth):
    rng = np.random.default_rng(2024)
    reps, covered = 2000, 0
    for _ in range(reps):
        t, p = draw(rng, 300)
        e = bootstrap_ci(t, p, metric=name, n_resamples=1000, rng=rng, labels=None)
        covered += e.contains(truth)
    print(f"coverage of {name}: {covered / reps:.3f} over {reps} simulated samples")
    assert 0.93 <= covered / reps <= 0.97, covered / reps
