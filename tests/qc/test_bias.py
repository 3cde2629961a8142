"""Tests for qc.bias."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from scipy.spatial.distance import jensenshannon
from sklearn.linear_model import LinearRegression
from statsmodels.stats.proportion import proportion_confint

from qc.bias import (
    bias_regression,
    js_divergence,
    kl_divergence,
    label_divergence,
    position_bias,
    quantile_bins,
    recall_gap,
    self_preference,
    slice_bias,
)

LLMBAR = Path(__file__).resolve().parents[1] / "data" / "llmbar"  # see tests/data/README.md


# ---------------------------------------------------------------- bins
def test_quantile_bins_labels_and_missing():
    b = quantile_bins([1, 2, 3, 4, np.nan, 100], q=2)
    assert b.tolist() == ["[1, 3)", "[1, 3)", "[3, 100]", "[3, 100]", "missing", "[3, 100]"]
    assert list(b.cat.categories) == ["[1, 3)", "[3, 100]", "missing"] and b.cat.ordered
    # duplicate quantiles collapse instead of failing
    assert quantile_bins([1, 1, 1, 1, 2], q=4).nunique() <= 2
    assert quantile_bins([5, 5, 5], q=3).tolist() == ["[5, 5]"] * 3
    with pytest.raises(ValueError, match="numeric"):
        quantile_bins(["a", "b"])
    with pytest.raises(ValueError, match="q must"):
        quantile_bins([1, 2], q=0)


# ---------------------------------------------------------------- slices
def test_slice_bias_matches_scipy_per_slice():
    rng = np.random.default_rng(0)
    n = 300
    human = rng.integers(1, 6, n).astype(float)
    llm = np.clip(human + rng.integers(-1, 2, n), 1, 5)
    sl = rng.choice(["x", "y", "z"], n)
    r = slice_bias(llm, human, sl)
    err = llm - human
    for _, row in r.table.iterrows():
        e = err[sl == row.slice]
        lo, hi = stats.t.interval(0.95, e.size - 1, loc=e.mean(), scale=stats.sem(e))
        assert row.n == e.size
        assert (row.error_ci_low, row.error_ci_high) == pytest.approx((lo, hi), abs=1e-12)
        assert row.agreement == pytest.approx(np.mean(e == 0))
    groups = [err[sl == s] for s in "xyz"]
    assert r.error_test.p_value == pytest.approx(stats.kruskal(*groups).pvalue, abs=1e-12)
    ra = slice_bias(llm, human, sl, error_test="anova")
    assert ra.error_test.statistic == pytest.approx(stats.f_oneway(*groups).statistic, abs=1e-12)
    cont = np.array([[np.sum(g == 0), np.sum(g != 0)] for g in groups])
    assert r.agreement_test.p_value == pytest.approx(stats.chi2_contingency(cont, correction=False).pvalue)


def test_slice_bias_wilson_matches_statsmodels():
    rng = np.random.default_rng(1)
    human = rng.integers(0, 2, 200)
    llm = np.where(rng.random(200) < 0.8, human, 1 - human)
    sl = rng.choice(["a", "b"], 200)
    r = slice_bias(llm.astype(str), human.astype(str), sl)  # categorical labels
    assert r.error_test is None and r.table.mean_signed_error.isna().all()
    for _, row in r.table.iterrows():
        k = int(round(row.agreement * row.n))
        lo, hi = proportion_confint(k, row.n, alpha=0.05, method="wilson")
        assert (row.agreement_ci_low, row.agreement_ci_high) == pytest.approx((lo, hi), abs=1e-12)


def test_injected_length_bias_found_by_slices_and_regression():
    rng = np.random.default_rng(7)
    n = 800
    length = rng.gamma(2.0, 150.0, n)
    long = length > np.quantile(length, 0.75)
    human = rng.integers(1, 6, n).astype(float)
    llm = human + 1.0 * long + rng.normal(0, 0.7, n)  # over-rates long items by +1
    r = slice_bias(llm, human, length, bins=4)
    top = r.table.iloc[-1]
    assert top.slice.endswith("]")  # highest quartile, closed interval
    assert top.error_ci_low > 0.6 and top.error_ci_high < 1.4  # CI excludes 0, near +1
    assert (r.table.iloc[:-1].mean_signed_error.abs() < 0.2).all()
    assert r.error_test.p_value < 1e-10
    reg = bias_regression(llm, human, pd.DataFrame({"is_long": long, "noise": rng.normal(size=n)}))
    coef = reg.set_index("term")
    assert coef.loc["is_long=True", "ci_low"] > 0.8 and coef.loc["is_long=True", "ci_high"] < 1.2
    assert abs(coef.loc["noise", "coef"]) < 0.15  # a feature unrelated to the error


def test_slice_bias_drops_missing_and_names_missing_slice():
    r = slice_bias([1, 2, None, 4], [1, 2, 3, np.nan], ["a", None, "a", "b"])
    assert r.table.slice.tolist() == ["a", "missing"] and r.table.n.tolist() == [1, 1]


def test_slice_bias_errors():
    with pytest.raises(ValueError, match="same length"):
        slice_bias([1, 2], [1, 2], ["a"])
    with pytest.raises(ValueError, match="no items"):
        slice_bias([None], [1], ["a"])
    with pytest.raises(ValueError, match="error_test"):
        slice_bias([1, 2], [1, 2], ["a", "b"], error_test="t")
    with pytest.raises(ValueError, match="level"):
        slice_bias([1, 2], [1, 2], ["a", "b"], level=1.5)


# ---------------------------------------------------------------- regression
def _hc3_textbook(D, e):
    n = D.shape[0]
    XtX_inv = np.linalg.inv(D.T @ D)
    H = D @ XtX_inv @ D.T
    beta = XtX_inv @ D.T @ e
    r = e - D @ beta
    Omega = np.diag([r[i] ** 2 / (1 - H[i, i]) ** 2 for i in range(n)])
    return np.sqrt(np.diag(XtX_inv @ D.T @ Omega @ D @ XtX_inv))


@pytest.mark.parametrize("seed", range(100))
def test_bias_regression_matches_sklearn_and_textbook_hc3(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(15, 120))
    X = pd.DataFrame({"len": rng.gamma(2, 1, n), "dom": rng.choice(["a", "b", "c"], n), "z": rng.normal(size=n)})
    human = rng.normal(size=n)
    llm = human + 0.3 * X["len"] + rng.normal(size=n) * (1 + X["len"])  # heteroskedastic
    res = bias_regression(llm, human, X)
    assert res.term.tolist() == ["intercept", "len", "dom=b", "dom=c", "z"]
    D = np.column_stack([np.ones(n), X["len"], X["dom"] == "b", X["dom"] == "c", X["z"]]).astype(float)
    e = (llm - human).to_numpy()
    ref = LinearRegression().fit(D[:, 1:], e)
    assert np.allclose(res.coef, np.r_[ref.intercept_, ref.coef_], atol=1e-9)
    assert np.allclose(res.se, _hc3_textbook(D, e), rtol=1e-9, atol=1e-12)
    t = stats.t.ppf(0.975, n - 5)
    assert np.allclose(res.ci_high - res.coef, t * res.se, atol=1e-12)


def test_bias_regression_matches_statsmodels_hc3():
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80)})
    human = rng.normal(size=80)
    llm = human + X["a"] * rng.normal(size=80)
    res = bias_regression(llm, human, X)
    ref = sm.OLS((llm - human).to_numpy(), sm.add_constant(X.to_numpy())).fit(cov_type="HC3")
    assert np.allclose(res.se, ref.bse, rtol=1e-9)
    assert np.allclose(res.coef, ref.params, atol=1e-9)


def test_bias_regression_errors():
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(ValueError, match="rank-deficient"):
        bias_regression([1, 2, 3, 4], [1, 1, 1, 1], pd.DataFrame({"a": [1.0] * 4}))
    with pytest.raises(ValueError, match="one row per item"):
        bias_regression([1, 2, 3], [1, 1, 1], X)
    with pytest.raises(ValueError, match="numeric"):
        bias_regression(["a", "b", "c", "d"], [1, 1, 1, 1], X)
    with pytest.raises(ValueError, match="NaN"):
        bias_regression([1, 2, np.nan, 4], [1, 1, 1, 1], X)
    with pytest.raises(ValueError, match="more items"):
        bias_regression([1, 2], [1, 1], pd.DataFrame({"a": [1.0, 2.0]}))


# ---------------------------------------------------------------- self-preference
@pytest.mark.parametrize("seed", range(50))
def test_self_preference_mean_matches_welch(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(10, 200))
    same = rng.random(n) < 0.4
    same[:2], same[2:4] = True, False
    err = rng.normal(0.3 * same, rng.uniform(0.5, 2), n)
    e = self_preference(err, same)
    ci = stats.ttest_ind(err[same], err[~same], equal_var=False).confidence_interval(0.95)
    assert (e.ci_low, e.ci_high) == pytest.approx((ci.low, ci.high), abs=1e-9)
    assert e.estimate == pytest.approx(err[same].mean() - err[~same].mean())


def test_self_preference_newcombe_known_value():
    # Newcombe (1998), method 10, example (a): 56/70 vs 48/80 -> 0.2, CI 0.0524 to 0.3339
    wins = np.r_[np.ones(56), np.zeros(14), np.ones(48), np.zeros(32)]
    same = np.r_[np.ones(70), np.zeros(80)].astype(bool)
    e = self_preference(wins, same, kind="proportion")
    assert e.estimate == pytest.approx(0.2)
    assert (round(e.ci_low, 4), round(e.ci_high, 4)) == (0.0524, 0.3339)


def test_self_preference_errors():
    with pytest.raises(ValueError, match="both same-family and other-family"):
        self_preference([1.0, 2.0], [True, True])
    with pytest.raises(ValueError, match="0/1"):
        self_preference([0.5, 1.0], [True, False], kind="proportion")
    with pytest.raises(ValueError, match="kind"):
        self_preference([1.0, 2.0], [True, False], kind="median")
    with pytest.raises(ValueError, match="boolean"):
        self_preference([1.0, 2.0], ["yes", "no"])


# ---------------------------------------------------------------- position bias
def test_position_bias_known_values_and_missing():
    pb = position_bias(["1", "1", "2", "", "1"], ["1", "2", "2", "2", None], first="1", second="2")
    # valid in both orders: items 0,1,2 -> one flip
    assert pb.flip_rate.estimate == pytest.approx(1 / 3) and pb.flip_rate.n == 3
    # verdicts: ab valid for 0,1,2,4 (first wins: 0,1,4) ; ba valid for 0,1,2,3 (first wins: 1,2,3)
    assert pb.first_position_rate.estimate == pytest.approx(6 / 8)
    assert pb.n_items == 5


def test_position_bias_unbiased_judge_interval_covers_half():
    rng = np.random.default_rng(0)
    truth = rng.choice([1, 2], 1000)
    pb = position_bias(truth, truth)
    assert pb.flip_rate.estimate == 0.0
    assert pb.first_position_rate.contains(0.5)
    biased = position_bias(np.ones(1000, int), np.full(1000, 2))
    assert biased.first_position_rate.estimate == 1.0 and biased.flip_rate.estimate == 1.0


def test_position_bias_flip_rate_matches_published_llmbar():
    j = pd.read_csv(LLMBAR / "judgments.csv.gz", dtype=str, keep_default_na=False)
    pub = pd.read_csv(LLMBAR / "published_statistics.csv").set_index(["subset", "evaluator", "strategy"])
    checked = 0
    for key, d in j.groupby(["subset", "evaluator", "strategy"]):
        if (d.winner_order_12 == "").any() or (d.winner_order_21 == "").any():
            continue  # equal_pct counts unparsable answers differently
        pb = position_bias(d.winner_order_12, d.winner_order_21, first="1", second="2")
        assert 100 * (1 - pb.flip_rate.estimate) == pytest.approx(pub.loc[key, "equal_pct"], abs=1e-9)
        checked += 1
    assert checked > 300


def test_position_bias_errors():
    with pytest.raises(ValueError, match="same length"):
        position_bias([1, 2], [1])
    with pytest.raises(ValueError, match="no valid verdicts"):
        position_bias(["", None], [None, ""])


# ---------------------------------------------------------------- divergences
@pytest.mark.parametrize("seed", range(200))
def test_kl_js_match_scipy(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 8))
    p, q = rng.integers(0, 20, k), rng.integers(1, 20, k)
    p[0] += 1
    s = [0.0, 0.5, 1.0][seed % 3]
    ps, qs = (p + s) / (p + s).sum(), (q + s) / (q + s).sum()
    assert kl_divergence(p, q, smoothing=s) == pytest.approx(stats.entropy(ps, qs, base=2), abs=1e-12)
    assert js_divergence(p, q, smoothing=s) == pytest.approx(jensenshannon(ps, qs, base=2) ** 2, abs=1e-12)
    assert js_divergence(p, q, smoothing=s, base=np.e) == pytest.approx(jensenshannon(ps, qs) ** 2, abs=1e-12)


def test_divergences_batched_and_edge_cases():
    P = np.array([[10, 0, 0], [5, 5, 0], [3, 3, 4]])
    q = np.array([1, 1, 1])
    assert np.allclose(js_divergence(P, q), [js_divergence(r, q) for r in P])
    assert kl_divergence([1, 0], [1, 0]) == 0.0
    assert kl_divergence([1, 1], [1, 0]) == np.inf
    # smoothed: p = (1.5, 1.5) / 3, q = (1.5, 0.5) / 2, KL = 0.5 log2(0.5 / 0.75) + 0.5 log2(0.5 / 0.25)
    assert kl_divergence([1, 1], [1, 0], smoothing=0.5) == pytest.approx(0.5 * np.log2(4 / 3), abs=1e-12)
    with pytest.raises(ValueError, match="same number of labels"):
        js_divergence([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="non-negative"):
        js_divergence([1, -2], [1, 2])
    with pytest.raises(ValueError, match="positive total"):
        js_divergence([0, 0], [1, 2])


def test_label_divergence():
    d = label_divergence(["a"] * 9 + ["b"], ["a"] * 5 + ["b"] * 5, smoothing=0)
    assert d["llm_share"].to_dict() == {"a": 0.9, "b": 0.1}
    assert d["js"] == pytest.approx(jensenshannon([0.9, 0.1], [0.5, 0.5], base=2) ** 2)
    assert d["kl"] == pytest.approx(stats.entropy([0.9, 0.1], [0.5, 0.5], base=2))
    with pytest.raises(ValueError, match="outside"):
        label_divergence(["a", "c"], ["a"], labels=["a", "b"])


# ---------------------------------------------------------------- recall gap
def test_recall_gap_flags_minority_collapse():
    rng = np.random.default_rng(0)
    human = rng.choice(["neg", "neu", "pos"], 2000, p=[0.45, 0.1, 0.45])
    llm = human.copy()
    neu = human == "neu"
    llm[neu] = np.where(rng.random(neu.sum()) < 0.85, rng.choice(["neg", "pos"], neu.sum()), "neu")
    t = recall_gap(human, llm).set_index("label")
    assert t.loc["neu", "collapsed"] and not t.loc["neg", "collapsed"]
    assert t.loc["neu", "recall_ci_high"] < 0.25 and t.loc["neu", "recall_gap"] < -0.5
    assert t.loc["neg", "recall"] == 1.0
    assert t.human_share.sum() == pytest.approx(1.0) and t.llm_share.sum() == pytest.approx(1.0)


def test_recall_gap_errors():
    with pytest.raises(ValueError, match="only one class"):
        recall_gap(["a", "a"], ["a", "a"])
    with pytest.raises(ValueError, match="same length"):
        recall_gap(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="no items"):
        recall_gap([None], ["a"])
