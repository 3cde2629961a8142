"""qc.uncertainty: batched metrics equal the point functions, bootstrap determinism, coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import cohen_kappa_score

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


def _reference_bootstrap(t, p, metric, seed, n_resamples, level=0.95):
    """The documented scheme with reference implementations: ONE (B, n) index matrix from
    default_rng(seed).integers, the metric by scikit-learn / scipy on each row, percentiles."""
    idx = np.random.default_rng(seed).integers(0, len(t), size=(n_resamples, len(t)))
    labels = np.unique(np.concatenate([t, p]))
    reps = [metric(t[row], p[row], labels) for row in idx]
    return np.nanpercentile(reps, [50 * (1 - level), 50 * (1 + level)])


def _sk_quadratic_kappa(a, b, labels):
    return cohen_kappa_score(a, b, weights="quadratic", labels=labels)


def _scipy_pearson(a, b, labels):
    return stats.pearsonr(a, b).statistic


def test_seeded_and_independent_of_chunk_size(monkeypatch):
    rng = np.random.default_rng(2)
    t, p = _ordinal_pair(rng, 300)
    a = bootstrap_ci(t, p, metric="quadratic_kappa", n_resamples=200, seed=11)
    assert bootstrap_ci(t, p, metric="quadratic_kappa", n_resamples=200, rng=np.random.default_rng(11)) == a
    assert bootstrap_ci(t, p, metric="quadratic_kappa", n_resamples=200, seed=12) != a
    pearson = bootstrap_ci(t, p, metric="pearson", n_resamples=200, seed=11)
    kappa_ref = _reference_bootstrap(t, p, _sk_quadratic_kappa, seed=11, n_resamples=200)
    pearson_ref = _reference_bootstrap(t, p, _scipy_pearson, seed=11, n_resamples=200)
    # blocks of a few rows each, instead of one block for all 200 resamples
    monkeypatch.setattr(qu, "_CHUNK_BYTES", 300 * 8 * 7)
    for chunked in (a, bootstrap_ci(t, p, metric="quadratic_kappa", n_resamples=200, seed=11)):
        assert (chunked.ci_low, chunked.ci_high) == pytest.approx(tuple(kappa_ref), abs=TOL)
    for chunked in (pearson, bootstrap_ci(t, p, metric="pearson", n_resamples=200, seed=11)):
        assert (chunked.ci_low, chunked.ci_high) == pytest.approx(tuple(pearson_ref), abs=TOL)


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


def _kappa_of_joint(joint: np.ndarray, weights: str) -> float:
    """Weighted kappa of a known joint distribution: scikit-learn's, with the cell probabilities
    as sample weights."""
    k = joint.shape[0]
    rows, cols = np.divmod(np.arange(k * k), k)
    return float(cohen_kappa_score(rows, cols, weights=weights, sample_weight=joint.ravel()))


def test_the_true_kappa_of_the_joint_distribution_is_the_closed_form():
    # quadratic kappa = 1 - sum w p / sum w p_row p_col with w = (i - j)^2, by hand
    k = np.arange(3)
    w = (k[:, None] - k[None, :]) ** 2
    closed = 1 - (w * _JOINT).sum() / (w * np.outer(_JOINT.sum(1), _JOINT.sum(0))).sum()
    assert _kappa_of_joint(_JOINT, "quadratic") == pytest.approx(closed, abs=1e-12)


# CI runs 400 seeded repetitions of a 500-resample bootstrap (binomial SD at 95% ~1.1%, so the
# 91-98% band is > 3 SD from 95% on either side); `make test-slow` runs 2000 repetitions of the
# 1000-resample bootstrap (SD ~0.5%) against 93-97%.
COVERAGE_RUNS = [pytest.param(400, 500, (0.91, 0.98), id="ci-400"),
                 pytest.param(2000, 1000, (0.93, 0.97), id="full-2000", marks=pytest.mark.slow)]


@pytest.mark.parametrize(("reps", "n_resamples", "band"), COVERAGE_RUNS)
@pytest.mark.parametrize(
    ("name", "draw", "truth"),
    [
        # accuracy of a labeler that is right with probability 0.8
        ("accuracy", lambda rng, n: (np.zeros(n, int), (rng.random(n) > 0.8).astype(int)), 0.8),
        # MAE of N(0, 1) errors: E|e| = sqrt(2 / pi)
        ("mae", lambda rng, n: (np.zeros(n), rng.normal(size=n)), math.sqrt(2 / math.pi)),
        # quadratic kappa of pairs drawn from a known 3 x 3 joint distribution
        ("quadratic_kappa", lambda rng, n: _draw_joint(rng, n), _kappa_of_joint(_JOINT, "quadratic")),
    ],
)
def test_bootstrap_interval_covers_the_true_value_about_95_percent(name, draw, truth, reps, n_resamples, band):
    rng = np.random.default_rng(2024)
    covered = 0
    for _ in range(reps):
        t, p = draw(rng, 300)
        e = bootstrap_ci(t, p, metric=name, n_resamples=n_resamples, rng=rng, labels=None)
        covered += e.contains(truth)
    print(f"coverage of {name}: {covered / reps:.3f} over {reps} simulated samples")
    assert band[0] <= covered / reps <= band[1], covered / reps


def _scipy_grouped_reference(x, y, g, method, idx, level=0.95):
    """The slow way: per resample, the rows of the drawn groups (each draw a group of its own),
    scipy's coefficient in every drawn group where it is defined, their mean; then percentiles."""
    from scipy import stats as sst

    fn = {"pearson": sst.pearsonr, "spearman": sst.spearmanr, "kendall": sst.kendalltau}[method]
    labels = list(dict.fromkeys(g.tolist()))
    members = [np.flatnonzero(g == k) for k in labels]
    reps = []
    for row in idx:
        values = []
        for p in row:
            xa, yb = x[members[p]], y[members[p]]
            if len(xa) < 2 or np.all(xa == xa[0]) or np.all(yb == yb[0]):
                continue
            values.append(fn(xa, yb)[0])
        if values:
            reps.append(np.mean(values))
    return np.percentile(reps, [50 * (1 - level), 50 * (1 + level)]), len(idx) - len(reps)


@pytest.mark.parametrize("method", ["pearson", "spearman", "kendall"])
def test_grouped_correlation_ci_equals_a_scipy_loop_over_the_same_resampled_groups(method):
    from qc.agreement import grouped_correlation
    from qc.uncertainty import grouped_correlation_ci

    rng = np.random.default_rng(3)
    sizes = [3, 5, 8, 13, 4, 6, 9, 7, 1, 5]  # unequal groups, one of a single item
    g = np.repeat([f"sys{k}" for k in range(len(sizes))], sizes)
    x = rng.integers(1, 6, len(g)).astype(float)  # ties, as on a 1-5 scale
    y = np.clip(x + rng.integers(-1, 2, len(g)), 1, 5)
    y[g == "sys4"] = 3.0                          # a constant group: undefined, skipped
    est = grouped_correlation_ci(x, y, g, method=method, n_resamples=400, seed=7)
    idx = np.random.default_rng(7).integers(0, len(sizes), (400, len(sizes)))
    (lo, hi), undefined = _scipy_grouped_reference(x, y, g, method, idx)
    assert (est.ci_low, est.ci_high) == (pytest.approx(lo, abs=1e-9), pytest.approx(hi, abs=1e-9))
    assert est.estimate == pytest.approx(grouped_correlation(x, y, g, method=method, level="per_group"), abs=1e-12)
    assert (est.n, est.n_skipped) == (8, 2)
    assert undefined == 0 and "400" in est.method and "10 groups" in est.method


def test_grouped_correlation_ci_bad_input():
    from qc.uncertainty import grouped_correlation_ci

    with pytest.raises(ValueError, match="no group has a defined correlation"):
        grouped_correlation_ci([1, 2, 3], [1, 1, 1], ["a", "a", "a"])
    with pytest.raises(ValueError, match="n_resamples"):
        grouped_correlation_ci([1, 2, 3], [1, 2, 3], ["a", "a", "a"], n_resamples=0)


@pytest.mark.parametrize("grouped", [False, True])
def test_bootstrap_cis_cache_shared_by_several_raters_gives_the_same_intervals(grouped):
    rng = np.random.default_rng(3)
    gold = rng.integers(1, 6, 300).astype(float)
    groups = np.repeat(np.arange(150), 2) if grouped else None
    metrics = ["pearson", "spearman", "kendall_tau", "mae", "quadratic_kappa", "accuracy"]
    cache: dict = {}
    for k in range(4):  # four raters against one gold, the second and fourth reusing the cache's arrays
        pred = np.clip(gold + rng.integers(-k, k + 1, 300), 1, 5)
        data = {m: (gold, pred, m, None) for m in metrics}
        alone = qu.bootstrap_cis(data, n_resamples=300, seed=7, groups=groups)
        shared = qu.bootstrap_cis(data, n_resamples=300, seed=7, groups=groups, cache=cache)
        assert shared == alone
        assert shared["spearman"] == bootstrap_ci(gold, pred, metric="spearman", n_resamples=300, seed=7,
                                                  groups=groups)
    assert any(key[0] == "x" for key in cache) and any(key[0] == "resamples" for key in cache)


def test_bootstrap_cis_cache_is_not_used_for_a_draw_larger_than_one_block(monkeypatch):
    monkeypatch.setattr(qu, "_CHUNK_BYTES", 8 * 1024)  # forces several blocks
    rng = np.random.default_rng(4)
    gold, pred = rng.normal(size=200), rng.normal(size=200)
    data = {"pearson": (gold, pred, "pearson", None)}
    cache: dict = {}
    assert qu.bootstrap_cis(data, n_resamples=100, cache=cache) == qu.bootstrap_cis(data, n_resamples=100)
    assert not any(isinstance(k, tuple) and k[0] == "resamples" for k in cache)
