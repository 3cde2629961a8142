"""qc.paired: the paired bootstrap of a metric difference and McNemar's test, against references."""

import krippendorff
import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score
from statsmodels.stats.contingency_tables import mcnemar

from qc.agreement import _kappa_from_cm, _macro_f1_from_cm, _weight_matrix
from qc.paired import mcnemar_test, paired_bootstrap_ci, paired_bootstrap_cis


def _labelers(n, seed, k=3):
    """Gold and two correlated labelers: B copies A's answer on half the items."""
    rng = np.random.default_rng(seed)
    t = rng.integers(0, k, n)
    a = np.where(rng.random(n) < 0.75, t, rng.integers(0, k, n))
    b = np.where(rng.random(n) < 0.5, a, np.where(rng.random(n) < 0.6, t, rng.integers(0, k, n)))
    return t, a, b


def _reference(t, a, b, score, n_resamples, seed, level=0.95):
    """The paired bootstrap by hand: one index matrix, a Python loop of the reference library."""
    idx = np.random.default_rng(seed).integers(0, len(t), size=(n_resamples, len(t)))
    diffs = np.array([score(t[i], a[i]) - score(t[i], b[i]) for i in idx])
    diffs = diffs[~np.isnan(diffs)]
    return score(t, a) - score(t, b), np.percentile(diffs, [50 * (1 - level), 50 * (1 + level)])


@pytest.mark.parametrize("metric,score", [
    ("accuracy", accuracy_score),
    ("cohen_kappa", cohen_kappa_score),
    ("quadratic_kappa", lambda x, y: cohen_kappa_score(x, y, weights="quadratic", labels=[0, 1, 2])),
    ("macro_f1", lambda x, y: f1_score(x, y, average="macro", labels=[0, 1, 2], zero_division=0)),
])
def test_discrete_metrics_equal_a_loop_of_scikit_learn_on_the_same_resamples(metric, score):
    t, a, b = _labelers(120, seed=3)
    est, (lo, hi) = _reference(t, a, b, score, 400, seed=5)
    got = paired_bootstrap_ci(t, a, b, metric=metric, labels=[0, 1, 2], n_resamples=400, seed=5)
    assert got.estimate == pytest.approx(est, abs=1e-9)
    assert (got.ci_low, got.ci_high) == pytest.approx((lo, hi), abs=1e-9)
    assert got.n == 120 and got.method == "paired percentile bootstrap (B=400)"


def test_spearman_and_krippendorff_alpha_equal_scipy_and_the_krippendorff_library():
    rng = np.random.default_rng(8)
    t = rng.integers(1, 6, 90).astype(float)
    a = np.clip(t + rng.integers(-1, 2, 90), 1, 5)
    b = np.clip(t + rng.integers(-2, 3, 90), 1, 5)

    def spearman(x, y):
        return stats.spearmanr(x, y).statistic

    def alpha(x, y):
        return krippendorff.alpha(reliability_data=np.vstack([x, y]), level_of_measurement="ordinal",
                                  value_domain=[1, 2, 3, 4, 5])

    for metric, score, labels in [("spearman", spearman, None), ("krippendorff_alpha_ordinal", alpha, None),
                                  ("krippendorff_alpha_interval", lambda x, y: krippendorff.alpha(
                                      reliability_data=np.vstack([x, y]), level_of_measurement="interval"), None)]:
        est, (lo, hi) = _reference(t, a, b, score, 300, seed=2)
        got = paired_bootstrap_ci(t, a, b, metric=metric, labels=labels, n_resamples=300, seed=2)
        assert got.estimate == pytest.approx(est, abs=1e-9), metric
        assert (got.ci_low, got.ci_high) == pytest.approx((lo, hi), abs=1e-9), metric


def test_one_call_for_several_metrics_equals_separate_calls_and_shares_the_resamples():
    t, a, b = _labelers(80, seed=1)
    data = {m: (t, a, b, m, None) for m in ("accuracy", "cohen_kappa", "macro_f1")}
    together = paired_bootstrap_cis(data, n_resamples=250, seed=9)
    for m in data:
        assert together[m] == paired_bootstrap_ci(t, a, b, metric=m, n_resamples=250, seed=9)
    # same seed, same output; another seed, other resamples
    assert paired_bootstrap_cis(data, n_resamples=250, seed=9) == together
    assert paired_bootstrap_cis(data, n_resamples=250, seed=10)["accuracy"] != together["accuracy"]


def test_groups_resample_whole_items_like_a_loop_over_resampled_groups():
    t, a, b = _labelers(60, seed=6)
    groups = np.repeat(np.arange(30), 2)          # each item judged twice (both presentation orders)
    idx = np.random.default_rng(4).integers(0, 30, size=(300, 30))
    rows = [np.concatenate([np.flatnonzero(groups == g) for g in r]) for r in idx]
    diffs = [cohen_kappa_score(t[r], a[r]) - cohen_kappa_score(t[r], b[r]) for r in rows]
    got = paired_bootstrap_ci(t, a, b, metric="cohen_kappa", n_resamples=300, seed=4, groups=groups)
    assert (got.ci_low, got.ci_high) == pytest.approx(tuple(np.percentile(diffs, [2.5, 97.5])), abs=1e-9)
    assert got.n == 30 and got.method.startswith("paired cluster percentile bootstrap over 30 groups")


def test_a_labeler_against_itself_differs_by_exactly_zero():
    t, a, _ = _labelers(50, seed=4)
    e = paired_bootstrap_ci(t, a, a, metric="cohen_kappa", n_resamples=200)
    assert (e.estimate, e.ci_low, e.ci_high) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("seed", range(6))
def test_mcnemar_equals_statsmodels_exact_and_chi_square(seed):
    rng = np.random.default_rng(seed)
    n = [15, 40, 200, 500, 1000, 30][seed]
    t, a, b = _labelers(n, seed=seed)
    ra, rb = a == t, b == t
    table = [[np.sum(ra & rb), np.sum(ra & ~rb)], [np.sum(~ra & rb), np.sum(~ra & ~rb)]]
    for exact in (True, False):
        ref = mcnemar(table, exact=exact, correction=True)
        got = mcnemar_test(t, a, b, exact=exact)
        assert got.statistic == pytest.approx(ref.statistic, abs=1e-9)
        assert got.pvalue == pytest.approx(ref.pvalue, abs=1e-9)
    auto = mcnemar_test(t, a, b)
    assert auto.method == ("exact binomial" if auto.n10 + auto.n01 < 25 else "chi-square with continuity correction")
    assert (auto.n10, auto.n01) == (table[0][1], table[1][0])
    del rng


def test_mcnemar_on_string_labels_and_without_discordant_items():
    t = ["yes", "no", "yes", "no"]
    r = mcnemar_test(t, ["yes", "no", "no", "no"], ["yes", "no", "no", "no"])
    assert (r.n10, r.n01, r.pvalue, r.method) == (0, 0, 1.0, "exact binomial")


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="metric must be one of"):
        paired_bootstrap_ci([0, 1], [0, 1], [1, 0], metric="kendall")
    with pytest.raises(ValueError, match="y_true and pred_b have different lengths"):
        paired_bootstrap_ci([0, 1, 1], [0, 1, 1], [1, 0])
    with pytest.raises(ValueError, match="pred_a contains 1 missing"):
        mcnemar_test([0, 1], [0, None], [1, 0])
    with pytest.raises(ValueError, match="n_resamples must be a positive integer"):
        paired_bootstrap_ci([0, 1], [0, 1], [1, 0], n_resamples=0)
    with pytest.raises(ValueError, match="undefined"):
        paired_bootstrap_ci([1, 2, 3], [1, 1, 1], [1, 2, 3], metric="spearman")
    with pytest.raises(ValueError, match="exact must be None, True or False"):
        mcnemar_test([0, 1], [0, 1], [1, 0], exact="yes")


# ----------------------------------------------------------------- coverage of the interval

_PRIOR = np.array([0.5, 0.3, 0.2])
_CONF_A = np.array([[0.8, 0.15, 0.05], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7]])
_CONF_B_OWN = np.array([[0.6, 0.3, 0.1], [0.3, 0.6, 0.1], [0.2, 0.2, 0.6]])
_COPY = 0.5  # B gives A's answer on half the items: the arms are correlated, as two judges are


def _true_differences():
    """The population value of each metric difference, from the joint distributions."""
    cm_a = _PRIOR[:, None] * _CONF_A
    cm_b = _PRIOR[:, None] * (_COPY * _CONF_A + (1 - _COPY) * _CONF_B_OWN)
    w = _weight_matrix(3, None)
    return {"accuracy": np.trace(cm_a) - np.trace(cm_b),
            "cohen_kappa": float(_kappa_from_cm(cm_a, w) - _kappa_from_cm(cm_b, w)),
            "macro_f1": float(_macro_f1_from_cm(cm_a) - _macro_f1_from_cm(cm_b))}


def _draw(rng, conf, t):
    cum = np.cumsum(conf[t], axis=1)
    return (rng.random(len(t))[:, None] > cum).sum(axis=1)


def _coverage(reps: int, seed: int, n: int = 200, n_resamples: int = 1000) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    truth = _true_differences()
    hits = dict.fromkeys(truth, 0)
    for r in range(reps):
        t = rng.choice(3, size=n, p=_PRIOR)
        a = _draw(rng, _CONF_A, t)
        b = np.where(rng.random(n) < _COPY, a, _draw(rng, _CONF_B_OWN, t))
        out = paired_bootstrap_cis({m: (t, a, b, m, [0, 1, 2]) for m in truth}, n_resamples=n_resamples, seed=r)
        for m, e in out.items():
            hits[m] += e.ci_low <= truth[m] <= e.ci_high
    return {m: h / reps for m, h in hits.items()}


def test_the_paired_interval_covers_the_true_difference_reduced():
    cov = _coverage(300, seed=21, n_resamples=500)
    assert all(0.90 <= c <= 0.985 for c in cov.values()), cov


@pytest.mark.slow
def test_the_paired_interval_covers_the_true_difference_93_to_97_percent():
    cov = _coverage(2000, seed=22)
    assert all(0.93 <= c <= 0.97 for c in cov.values()), cov
