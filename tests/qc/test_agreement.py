"""qc.agreement: randomized comparison with scikit-learn / scipy, known values, bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm
from scipy import stats

from qc import agreement as ag

SEEDS = range(40)  # x several cases per seed -> hundreds of random comparisons per metric
TOL = 1e-9


def _random_labels(rng, n_cases=8):
    """Random (y_true, y_pred, labels) triples: skewed, correlated, sometimes strings."""
    for _ in range(n_cases):
        k = int(rng.integers(2, 7))
        n = int(rng.integers(2, 120))
        p = rng.dirichlet(np.ones(k) * rng.uniform(0.3, 3))
        t = rng.choice(k, size=n, p=p)
        noise = rng.random(n) < rng.uniform(0, 1)
        y = np.where(noise, rng.choice(k, size=n), t)
        if rng.random() < 0.3:
            names = np.array([f"c{i}" for i in range(k)])
            t, y = names[t], names[y]
            labels = names
        else:
            labels = np.arange(k)
        yield t, y, labels


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")
@pytest.mark.parametrize("seed", SEEDS)
def test_categorical_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    for t, y, labels in _random_labels(rng):
        assert ag.accuracy_score(t, y) == pytest.approx(skm.accuracy_score(t, y), abs=TOL)
        for weights in (None, "linear", "quadratic"):
            ref = skm.cohen_kappa_score(t, y, weights=weights, labels=labels)
            if np.isnan(ref):
                with pytest.raises(ValueError, match="undefined"):
                    ag.cohen_kappa_score(t, y, weights=weights, labels=labels)
            else:
                ours = ag.cohen_kappa_score(t, y, weights=weights, labels=labels)
                assert ours == pytest.approx(ref, abs=TOL)
        np.testing.assert_array_equal(
            ag.confusion_matrix(t, y, labels=labels).to_numpy(), skm.confusion_matrix(t, y, labels=labels)
        )
        table = ag.precision_recall_f1_by_class(t, y, labels=labels)
        p, r, f, s = skm.precision_recall_fscore_support(t, y, labels=labels, zero_division=0)
        np.testing.assert_allclose(table["precision"], p, atol=TOL)
        np.testing.assert_allclose(table["recall"], r, atol=TOL)
        np.testing.assert_allclose(table["f1"], f, atol=TOL)
        np.testing.assert_array_equal(table["support"], s)
        assert list(table.index) == list(labels)
        assert ag.macro_f1_score(t, y) == pytest.approx(
            skm.f1_score(t, y, average="macro", zero_division=0), abs=TOL
        )


def test_weighted_kappa_uses_the_given_label_order():
    t = ["low", "mid", "high", "high", "mid", "low"]
    y = ["mid", "mid", "high", "mid", "low", "low"]
    order = ["low", "mid", "high"]
    ours = ag.cohen_kappa_score(t, y, weights="quadratic", labels=order)
    assert ours == pytest.approx(skm.cohen_kappa_score(t, y, weights="quadratic", labels=order), abs=TOL)
    # alphabetical order (high < low < mid) is a different scale, hence a different value
    assert ag.cohen_kappa_score(t, y, weights="quadratic") != pytest.approx(ours)


def _ac1_by_definition(t, y, labels):
    """Gwet (2008), eq. for two raters, written with explicit loops over items and labels."""
    n = len(t)
    pa = sum(1 for a, b in zip(t, y, strict=True) if a == b) / n
    k = len(labels)
    pe = 0.0
    for c in labels:
        pi = (sum(1 for a in t if a == c) + sum(1 for b in y if b == c)) / (2 * n)
        pe += pi * (1 - pi)
    pe /= k - 1
    return (pa - pe) / (1 - pe)


@pytest.mark.parametrize("seed", SEEDS)
def test_gwet_ac1_matches_definition(seed):
    rng = np.random.default_rng(seed)
    for t, y, labels in _random_labels(rng, 5):
        assert ag.gwet_ac1_score(t, y, labels=labels) == pytest.approx(
            _ac1_by_definition(list(t), list(y), list(labels)), abs=TOL
        )


def test_gwet_ac1_on_a_skewed_table_stays_high_where_kappa_collapses():
    # The "kappa paradox": 118 agreements on "+", 2 on "-", 5 disagreements. Worked by hand:
    # pa = 120/125, pi_+ = 241/250, pe = 2 pi_+ (1 - pi_+).
    t = ["+"] * 118 + ["+"] * 5 + ["-"] * 2
    y = ["+"] * 118 + ["-"] * 5 + ["-"] * 2
    pa = 120 / 125
    pi_plus = (123 + 118) / 250
    pe = 2 * pi_plus * (1 - pi_plus)
    assert ag.gwet_ac1_score(t, y) == pytest.approx((pa - pe) / (1 - pe), abs=1e-12)
    assert ag.gwet_ac1_score(t, y) > 0.9 > ag.cohen_kappa_score(t, y)


def _tau_b_by_pairs(x, y):
    c = d = tx = ty = 0
    for i, j in itertools.combinations(range(len(x)), 2):
        sx = np.sign(x[i] - x[j])
        sy = np.sign(y[i] - y[j])
        if sx == 0 and sy == 0:
            continue
        if sx == 0:
            tx += 1
        elif sy == 0:
            ty += 1
        elif sx == sy:
            c += 1
        else:
            d += 1
    return (c - d) / np.sqrt((c + d + tx) * (c + d + ty))


@pytest.mark.parametrize("seed", SEEDS)
def test_correlations_and_errors_match_scipy(seed):
    rng = np.random.default_rng(seed)
    for _ in range(8):
        n = int(rng.integers(3, 80))
        x = rng.normal(size=n) * rng.uniform(0.1, 100) + rng.uniform(-50, 50)
        y = x * rng.normal() + rng.normal(size=n) * rng.uniform(0.1, 10)
        if rng.random() < 0.5:  # Likert-like: many ties
            x, y = np.round(x / x.std() * 1.5), np.round(y / y.std() * 1.5)
        if np.all(x == x[0]) or np.all(y == y[0]):
            continue
        assert ag.pearson_score(x, y) == pytest.approx(stats.pearsonr(x, y).statistic, abs=TOL)
        assert ag.spearman_score(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=TOL)
        tau = ag.kendall_tau_score(x, y)
        assert tau == pytest.approx(stats.kendalltau(x, y, variant="b").statistic, abs=TOL)
        if n <= 30:
            assert tau == pytest.approx(_tau_b_by_pairs(x, y), abs=TOL)
        assert ag.mean_absolute_error(x, y) == pytest.approx(skm.mean_absolute_error(x, y), rel=TOL)
        assert ag.root_mean_squared_error(x, y) == pytest.approx(skm.root_mean_squared_error(x, y), rel=TOL)
        assert ag.mean_signed_error(x, y) == pytest.approx(np.mean(y - x), rel=TOL, abs=TOL)


def test_mean_signed_error_is_pred_minus_truth():
    assert ag.mean_signed_error([1, 1, 1], [2, 2, 2]) == 1.0
    assert ag.mean_signed_error([2, 2, 2], [1, 1, 1]) == -1.0


@pytest.mark.parametrize("method", ["pearson", "spearman", "kendall"])
def test_grouped_correlation_levels(method):
    rng = np.random.default_rng(7)
    groups = np.repeat(np.array(["s1", "s2", "s3", "s4", "s5"]), 30)
    x = rng.normal(size=150) + np.repeat(np.arange(5.0), 30)
    y = x + rng.normal(size=150)
    ref = {"pearson": stats.pearsonr, "spearman": stats.spearmanr, "kendall": stats.kendalltau}[method]
    df = pd.DataFrame({"x": x, "y": y, "g": groups})
    item = ag.grouped_correlation(x, y, groups, method=method, level="item")
    assert item == pytest.approx(ref(x, y).statistic, abs=TOL)
    per_group = ag.grouped_correlation(x, y, groups, method=method, level="per_group")
    expected = np.mean([ref(g.x, g.y).statistic for _, g in df.groupby("g")])
    assert per_group == pytest.approx(expected, abs=TOL)
    means = df.groupby("g")[["x", "y"]].mean()
    group_means = ag.grouped_correlation(x, y, groups, method=method, level="group_means")
    assert group_means == pytest.approx(ref(means.x, means.y).statistic, abs=TOL)


def test_grouped_correlation_skips_undefined_groups():
    x = [1, 2, 3, 5, 5, 5, 7]
    y = [1, 3, 2, 1, 2, 3, 4]
    g = ["a", "a", "a", "b", "b", "b", "c"]  # b: x constant; c: a single item
    assert ag.grouped_correlation(x, y, g, level="per_group") == pytest.approx(
        stats.pearsonr([1, 2, 3], [1, 3, 2]).statistic
    )
    with pytest.raises(ValueError, match="no group has a defined correlation"):
        ag.grouped_correlation([1, 1, 2], [1, 2, 3], ["a", "a", "b"], level="per_group")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ag.accuracy_score([1, 2, 3, 4, 5], [1, 2, 3, 4]), r"different lengths \(5 vs 4\)"),
        (lambda: ag.cohen_kappa_score([1, 2], [1, 2], weights="cubic"), "weights must be"),
        (lambda: ag.cohen_kappa_score([1, 1, 1], [1, 1, 1]), "undefined"),
        (lambda: ag.cohen_kappa_score([1, 2, 3], [1, 2, 4], labels=[1, 2, 3]), "not in labels"),
        (lambda: ag.cohen_kappa_score([1, None, 2], [1, 2, 2]), "y_true contains 1 missing"),
        (lambda: ag.confusion_matrix([], []), "y_true is empty"),
        (lambda: ag.confusion_matrix([[1, 2]], [[1, 2]]), "must be 1-D"),
        (lambda: ag.gwet_ac1_score(["a", "a"], ["a", "a"]), "at least two labels"),
        (lambda: ag.macro_f1_score([1, 2], [1, 2], labels=[1, 1, 2]), "duplicates"),
        (lambda: ag.pearson_score([1, 2, 3], [1, 1, 1]), "y is constant"),
        (lambda: ag.spearman_score([2, 2, 2], [1, 2, 3]), "x is constant"),
        (lambda: ag.kendall_tau_score([1], [1]), "at least 2 items"),
        (lambda: ag.pearson_score([1, np.nan, 3], [1, 2, 3]), "x contains 1 NaN"),
        (lambda: ag.mean_absolute_error([1, 2], ["a", "b"]), "y_pred must be numeric"),
        (lambda: ag.grouped_correlation([1, 2], [1, 2], [1, 1], level="system"), "level must be one of"),
        (lambda: ag.grouped_correlation([1, 2], [1, 2], [1, 1], method="tau"), "method must be one of"),
        (lambda: ag.grouped_correlation([1, 2], [1, 2], [1], level="item"), "different lengths"),
        (lambda: ag.grouped_correlation([1, 2], [1, 2], [1, 1], level="group_means"), "at least 2 groups"),
    ],
)
def test_invalid_input_raises_value_error_naming_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_accepts_series_and_lists_alike():
    t = pd.Series(["a", "b", "a", "b"])
    y = ["a", "b", "b", "b"]
    assert ag.cohen_kappa_score(t, y) == ag.cohen_kappa_score(list(t), np.array(y))
    cm = ag.confusion_matrix(t, y)
    assert cm.loc["a", "b"] == 1 and cm.index.name == "y_true" and cm.columns.name == "y_pred"
