"""Tests for qc.correction."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LinearRegression, LogisticRegression

from qc.correction import (
    ConfusionParams,
    IsotonicParams,
    LinearCovariatesParams,
    LinearParams,
    OrdinalCutsParams,
    PlattParams,
    TemperatureParams,
    apply_confusion,
    apply_isotonic,
    apply_linear,
    apply_linear_covariates,
    apply_ordinal_cuts,
    apply_platt,
    apply_temperature,
    cross_validate_correction,
    fit_confusion,
    fit_isotonic,
    fit_linear,
    fit_linear_covariates,
    fit_ordinal_cuts,
    fit_platt,
    fit_temperature,
    params_from_dict,
    project_to_simplex,
    rogan_gladen,
)

SEEDS = range(200)


# ---------------------------------------------------------------- linear
@pytest.mark.parametrize("seed", SEEDS)
def test_linear_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 60))
    x = rng.normal(size=n) * rng.uniform(0.1, 10)
    y = rng.normal(size=n) + rng.normal() * x
    p = fit_linear(x, y)
    ref = LinearRegression().fit(x[:, None], y)
    assert p.slope == pytest.approx(ref.coef_[0], abs=1e-9, rel=1e-9)
    assert p.intercept == pytest.approx(ref.intercept_, abs=1e-9, rel=1e-9)
    xn = rng.normal(size=5)
    assert np.allclose(apply_linear(p, xn), ref.predict(xn[:, None]), atol=1e-9)


def test_linear_errors():
    with pytest.raises(ValueError, match="same length"):
        fit_linear([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="constant"):
        fit_linear([2, 2, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="NaN"):
        fit_linear([1, np.nan, 3], [1, 2, 3])
    with pytest.raises(ValueError, match="at least 2"):
        fit_linear([], [])


# ---------------------------------------------------------------- isotonic
@pytest.mark.parametrize("seed", SEEDS)
def test_isotonic_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 80))
    # many ties: LLM scores on a coarse grid, like Likert means
    x = rng.integers(1, 8, size=n) / 2 if seed % 2 else rng.normal(size=n)
    y = x * rng.choice([-1, 1]) + rng.normal(size=n)
    w = rng.uniform(0.1, 3, size=n) if seed % 3 == 0 else None
    increasing = bool(seed % 4 != 1)
    p = fit_isotonic(x, y, increasing=increasing, sample_weight=w)
    ref = IsotonicRegression(increasing=increasing, out_of_bounds="clip").fit(x, y, sample_weight=w)
    grid = np.r_[x, np.linspace(x.min() - 1, x.max() + 1, 37)]
    assert np.allclose(apply_isotonic(p, grid), ref.predict(grid), atol=1e-9, rtol=0)


def test_isotonic_known_value_and_errors():
    p = fit_isotonic([1, 1, 2, 3], [3, 1, 1, 4])
    assert apply_isotonic(p, [1, 2, 3]).tolist() == [5 / 3, 5 / 3, 4.0]
    assert p.n == 4
    with pytest.raises(ValueError, match="sample_weight"):
        fit_isotonic([1, 2], [1, 2], sample_weight=[1, -1])
    with pytest.raises(ValueError, match="same length"):
        fit_isotonic([1, 2], [1])


# ---------------------------------------------------------------- linear with covariates
@pytest.mark.parametrize("seed", range(100))
def test_linear_covariates_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 120))
    X = pd.DataFrame(
        {
            "length": rng.gamma(2, 50, size=n),
            "domain": rng.choice(["math", "code", "chat"], size=n),
            "flag": rng.random(n) < 0.4,
        }
    )
    x = rng.normal(3, 1, size=n)
    y = 0.5 + 0.8 * x + 0.01 * X["length"] - 0.7 * (X["domain"] == "math") + rng.normal(size=n)
    p = fit_linear_covariates(x, y, X)
    assert p.columns == ("intercept", "y_llm", "length", "domain=code", "domain=math", "flag=True")
    D = np.column_stack([x, X["length"], X["domain"] == "code", X["domain"] == "math", X["flag"]]).astype(float)
    ref = LinearRegression().fit(D, y)
    assert np.allclose(p.coefficients, np.r_[ref.intercept_, ref.coef_], atol=1e-9)
    assert np.allclose(apply_linear_covariates(p, x, X), ref.predict(D), atol=1e-9)


def test_linear_covariates_unseen_level_and_missing():
    X = pd.DataFrame({"domain": ["a", "b", None, "a", "b", None]})
    p = fit_linear_covariates([1, 2, 3, 4, 5, 6], [1, 3, 4, 4, 6, 7], X)
    assert p.levels == {"domain": ("a", "b", "missing")}
    base = apply_linear_covariates(p, [2.0], pd.DataFrame({"domain": ["a"]}))
    assert np.allclose(apply_linear_covariates(p, [2.0], pd.DataFrame({"domain": ["zzz"]})), base)
    with pytest.raises(ValueError, match="not found"):
        apply_linear_covariates(p, [2.0], pd.DataFrame({"other": ["a"]}))
    with pytest.raises(ValueError, match="NaN"):
        fit_linear_covariates([1, 2, 3], [1, 2, 3], pd.DataFrame({"len": [1.0, np.nan, 2.0]}))
    with pytest.raises(ValueError, match="one row per item"):
        fit_linear_covariates([1, 2, 3], [1, 2, 3], pd.DataFrame({"len": [1.0, 2.0]}))
    with pytest.raises(ValueError, match="DataFrame"):
        fit_linear_covariates([1, 2, 3], [1, 2, 3], np.ones((3, 1)))


# ---------------------------------------------------------------- ordinal cuts
def _brute_best_agreement(s, y, levels):
    us = np.unique(s)
    best = -1
    for assign in itertools.combinations_with_replacement(range(len(levels)), len(us)):
        mapped = np.asarray(levels)[np.asarray(assign)[np.searchsorted(us, s)]]
        best = max(best, int((mapped == y).sum()))
    return best


@pytest.mark.parametrize("seed", range(150))
def test_ordinal_agreement_cuts_are_optimal(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 12))
    levels = [1.0, 2.0, 3.0]
    y = rng.choice(levels, size=n)
    s = np.round(y + rng.normal(scale=1.0, size=n), 1)
    p = fit_ordinal_cuts(s, y, levels=levels)
    got = int((apply_ordinal_cuts(p, s) == y).sum())
    assert got == _brute_best_agreement(s, y, levels)
    cuts = np.asarray(p.cuts)
    assert np.all(cuts[1:] >= cuts[:-1])


def test_ordinal_midpoint_is_rounding():
    p = fit_ordinal_cuts([1, 2, 3, 4, 5], [1, 2, 3, 4, 5], how="midpoint")
    assert p.cuts == (1.5, 2.5, 3.5, 4.5)
    assert apply_ordinal_cuts(p, [0.2, 1.49, 1.5, 3.7, 9]).tolist() == [1, 1, 2, 4, 5]


def test_ordinal_unused_levels_and_errors():
    p = fit_ordinal_cuts([0.1, 0.2], [1, 1], levels=[1, 2, 3])
    assert apply_ordinal_cuts(p, [100.0]).tolist() == [1.0]
    assert params_from_dict(json.loads(json.dumps(p.to_dict()))) == p
    with pytest.raises(ValueError, match="outside levels"):
        fit_ordinal_cuts([1, 2], [1, 7], levels=[1, 2, 3])
    with pytest.raises(ValueError, match="two ordinal levels"):
        fit_ordinal_cuts([1, 2], [1, 1])
    with pytest.raises(ValueError, match="how"):
        fit_ordinal_cuts([1, 2], [1, 2], how="best")


# ---------------------------------------------------------------- Platt / temperature
@pytest.mark.parametrize("seed", range(50))
def test_platt_matches_unpenalized_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = 400
    conf = rng.uniform(0.3, 0.999, n)
    z = np.log(conf / (1 - conf))
    correct = rng.random(n) < 1 / (1 + np.exp(-(rng.uniform(0.2, 2) * z + rng.normal(scale=0.5))))
    p = fit_platt(conf, correct)
    ref = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(z[:, None], correct)
    assert p.a == pytest.approx(ref.coef_[0, 0], abs=1e-5)
    assert p.b == pytest.approx(ref.intercept_[0], abs=1e-5)
    assert np.allclose(apply_platt(p, conf), ref.predict_proba(z[:, None])[:, 1], atol=1e-6)


def test_platt_errors_and_separable():
    with pytest.raises(ValueError, match="one class"):
        fit_platt([0.6, 0.7], [1, 1])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fit_platt([0.6, 1.7], [1, 0])
    with pytest.raises(ValueError, match="length"):
        fit_platt([0.6, 0.7], [1, 0, 1])
    p = fit_platt([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])  # separable: finite thanks to the ridge
    assert np.isfinite(p.a) and p.a > 0


def test_temperature_is_nll_minimizer_2d():
    rng = np.random.default_rng(1)
    L = rng.normal(size=(500, 5)) * 2
    y = (L + rng.gumbel(size=L.shape)).argmax(1)
    sharp = L * 2.5
    T = fit_temperature(sharp, y).temperature
    from scipy.special import log_softmax

    def nll(t):
        return -log_softmax(sharp / t, axis=1)[np.arange(500), y].mean()

    assert nll(T) <= min(nll(T * 0.99), nll(T * 1.01))
    assert 1.8 < T < 3.5
    probs = apply_temperature(fit_temperature(sharp, y), sharp)
    scaled = np.exp(sharp / T)   # softmax(logits / T), by its definition
    np.testing.assert_allclose(probs, scaled / scaled.sum(axis=1, keepdims=True), rtol=0, atol=1e-12)
    # log-probs give the same temperature as logits
    from scipy.special import log_softmax as ls

    assert fit_temperature(ls(sharp, axis=1), y).temperature == pytest.approx(T, rel=1e-6)


def test_temperature_1d_chosen_label_logprob():
    rng = np.random.default_rng(2)
    conf = rng.uniform(0.5, 0.999, 3000)
    z = np.log(conf / (1 - conf))
    correct = rng.random(3000) < 1 / (1 + np.exp(-z / 2.0))  # true T = 2
    p = fit_temperature(np.log(conf), correct)
    assert 1.7 < p.temperature < 2.3
    out = apply_temperature(p, np.log(conf))
    np.testing.assert_allclose(out, 1 / (1 + np.exp(-z / p.temperature)), rtol=0, atol=1e-9)  # sigmoid(logit / T)
    assert np.all(out <= conf + 1e-12)   # T > 1 softens every confidence


def test_temperature_errors():
    with pytest.raises(ValueError, match="class indices"):
        fit_temperature(np.zeros((3, 2)), [0, 1, 2])
    with pytest.raises(ValueError, match="finite"):
        fit_temperature(np.array([[0.0, np.nan]]), [0])
    with pytest.raises(ValueError, match="log-probabilities"):
        fit_temperature([0.5, -0.2], [1, 0])
    with pytest.raises(ValueError, match="1-D or 2-D"):
        fit_temperature(np.zeros((2, 2, 2)), [0, 1])


# ---------------------------------------------------------------- prevalence
def test_rogan_gladen_known_values():
    assert rogan_gladen(0.3, 0.9, 0.95) == pytest.approx((0.3 + 0.95 - 1) / 0.85)
    assert rogan_gladen(0.01, 0.9, 0.95) == 0.0  # clipped
    assert rogan_gladen(0.01, 0.9, 0.95, clip=False) < 0
    with pytest.raises(ValueError, match="Youden"):
        rogan_gladen(0.3, 0.4, 0.5)
    with pytest.raises(ValueError, match="q must"):
        rogan_gladen(1.3, 0.9, 0.9)


@pytest.mark.parametrize("seed", range(100))
def test_binary_confusion_matches_rogan_gladen(seed):
    rng = np.random.default_rng(seed)
    n = 300
    t = rng.random(n) < rng.uniform(0.2, 0.8)
    se, sp = rng.uniform(0.7, 0.99), rng.uniform(0.7, 0.99)
    h = np.where(t, rng.random(n) < se, rng.random(n) >= sp)
    p = fit_confusion(t.astype(int), h.astype(int))
    M = np.asarray(p.matrix)
    q = rng.uniform(0.3, 0.7)
    rg = rogan_gladen(q, M[1, 1], M[0, 0])
    got = apply_confusion(p, [1 - q, q])
    assert got[1] == pytest.approx(rg, abs=1e-9)
    assert got.sum() == pytest.approx(1.0)


def test_multiclass_confusion_recovers_prevalence():
    rng = np.random.default_rng(0)
    labels = np.array(["neg", "neu", "pos"])
    M = np.array([[0.8, 0.15, 0.05], [0.1, 0.7, 0.2], [0.05, 0.15, 0.8]])
    gold = rng.choice(3, size=20_000, p=[1 / 3] * 3)
    llm = np.array([rng.choice(3, p=M[g]) for g in gold[:3000]])
    params = fit_confusion(labels[gold[:3000]], labels[llm])
    true_p = np.array([0.6, 0.3, 0.1])
    pop = rng.choice(3, size=50_000, p=true_p)
    pop_llm = (rng.random(50_000)[:, None] > np.cumsum(M[pop], axis=1)).sum(1)
    est = apply_confusion(params, labels[pop_llm])
    naive = np.bincount(pop_llm, minlength=3) / pop_llm.size
    assert list(est.index) == ["neg", "neu", "pos"]
    assert np.abs(est.to_numpy() - true_p).max() < 0.03
    assert np.abs(naive - true_p).max() > 0.08  # the correction matters


@pytest.mark.parametrize("seed", range(100))
def test_project_to_simplex_is_closest_point(seed):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=int(rng.integers(1, 6))) * 2
    p = project_to_simplex(v)
    assert p.min() >= 0 and p.sum() == pytest.approx(1.0)
    others = rng.dirichlet(np.ones(v.size), size=500)
    assert np.linalg.norm(v - p) <= np.linalg.norm(v - others, axis=1).min() + 1e-12


def test_confusion_errors():
    with pytest.raises(ValueError, match="only one class"):
        fit_confusion(["a", "a"], ["a", "a"])
    with pytest.raises(ValueError, match="no gold items"):
        fit_confusion(["a", "a"], ["a", "b"])
    with pytest.raises(ValueError, match="missing"):
        fit_confusion(["a", None], ["a", "b"])
    with pytest.raises(ValueError, match="same length"):
        fit_confusion(["a", "b"], ["a"])
    p = fit_confusion(["a", "b"], ["a", "b"])
    with pytest.raises(ValueError, match="not in the fitted label set"):
        apply_confusion(p, ["a", "c"])


# ---------------------------------------------------------------- JSON round trip
def test_all_params_round_trip_through_json():
    rng = np.random.default_rng(0)
    x = rng.normal(size=50)
    y = x + rng.normal(size=50)
    X = pd.DataFrame({"len": rng.normal(size=50), "dom": rng.choice(["a", "b"], 50)})
    conf = rng.uniform(0.5, 1, 50)
    ok = rng.random(50) < conf
    all_params = [
        fit_linear(x, y),
        fit_isotonic(x, y),
        fit_linear_covariates(x, y, X),
        fit_ordinal_cuts(x, np.clip(np.round(y), -1, 1)),
        fit_platt(conf, ok),
        fit_temperature(np.log(conf), ok),
        fit_confusion(ok.astype(int), (conf > 0.7).astype(int)),
    ]
    types = [LinearParams, IsotonicParams, LinearCovariatesParams, OrdinalCutsParams, PlattParams]
    types += [TemperatureParams, ConfusionParams]
    for p, t in zip(all_params, types, strict=True):
        d = json.loads(json.dumps(p.to_dict(), allow_nan=False))
        assert t.from_dict(d) == p
        assert params_from_dict(d) == p
    with pytest.raises(ValueError, match="expected params of method"):
        LinearParams.from_dict(all_params[1].to_dict())
    with pytest.raises(ValueError, match="unknown correction method"):
        params_from_dict({"method": "magic"})
    with pytest.raises(ValueError, match="missing keys"):
        LinearParams.from_dict({"method": "linear", "slope": 1.0})


# ---------------------------------------------------------------- cross-validation
def _memorizer():
    def fit(y_llm, y_human, X):
        return dict(zip(X["item"], y_human, strict=True))

    def apply(table, y_llm, X):
        return np.array([table.get(i, v) for i, v in zip(X["item"], y_llm, strict=True)])

    return fit, apply


def test_cv_never_scores_on_fitted_items():
    rng = np.random.default_rng(0)
    n = 200
    y_human = rng.integers(1, 6, size=n).astype(float)
    y_llm = y_human + rng.normal(0, 1, size=n)
    X = pd.DataFrame({"item": np.arange(n)})
    fit, apply = _memorizer()
    # in-sample the memorizer is perfect ...
    assert np.array_equal(apply(fit(y_llm, y_human, X), y_llm, X), y_human)
    # ... but out of fold it has never seen the item and returns the raw score
    cv = cross_validate_correction(y_llm, y_human, method=(fit, apply), X=X, k=5, seed=0)
    mae = cv[cv.metric == "mae"]
    assert np.allclose(mae.before, mae.after)
    assert (mae.after > 0.5).all()
    assert list(cv.fold.unique()) == [0, 1, 2, 3, 4, "all"]
    assert cv[cv.fold != "all"].n_test.sum() == n * 3


def test_cv_groups_stay_in_one_fold():
    rng = np.random.default_rng(0)
    n = 120
    groups = np.repeat(np.arange(30), 4)
    seen = []

    def fit(a, b, X):
        seen.append(set(X["g"]))
        return fit_linear(a, b)

    def apply(p, a, X):
        seen.append(("test", set(X["g"])))
        return apply_linear(p, a)

    X = pd.DataFrame({"g": groups})
    y = rng.normal(size=n)
    cross_validate_correction(y + 1, y, method=(fit, apply), X=X, groups=groups, k=3)
    for train, (_, test) in zip(seen[0::2], seen[1::2], strict=True):
        assert not (train & test)


def test_cv_reproducible_and_linear_helps():
    rng = np.random.default_rng(3)
    y_human = rng.normal(3, 1, 400)
    y_llm = 0.6 * y_human + 1.5 + rng.normal(0, 0.3, 400)
    a = cross_validate_correction(y_llm, y_human, method="linear", seed=1)
    b = cross_validate_correction(y_llm, y_human, method="linear", seed=1)
    pd.testing.assert_frame_equal(a, b)
    for method in ("linear", "isotonic"):
        cv = cross_validate_correction(y_llm, y_human, method=method, seed=1, metrics=("rmse",))
        row = cv[cv.fold == "all"].iloc[0]
        assert row.after < 0.85 * row.before


def test_injected_length_bias_removed_by_covariate_correction():
    rng = np.random.default_rng(11)
    n = 600
    length = rng.gamma(2.0, 150.0, size=n)
    long = length > np.median(length)
    y_human = rng.integers(1, 6, size=n).astype(float)
    y_llm = y_human + 1.0 * long + rng.normal(0, 0.5, size=n)  # over-rates long items by +1
    X = pd.DataFrame({"is_long": long, "domain": rng.choice(["a", "b", "c"], n)})
    cv = cross_validate_correction(
        y_llm, y_human, method="linear_covariates", X=X, seed=0, metrics=("mean_signed_error", "mae")
    )
    row = cv[cv.fold == "all"].set_index("metric")
    assert abs(row.loc["mean_signed_error", "before"]) > 0.4
    assert abs(row.loc["mean_signed_error", "after"]) < 0.25 * abs(row.loc["mean_signed_error", "before"])
    assert row.loc["mae", "after"] < 0.75 * row.loc["mae", "before"]
    # the bias on long items in particular is gone out of fold
    fit_all = fit_linear_covariates(y_llm, y_human, X)
    coef = dict(zip(fit_all.columns, fit_all.coefficients, strict=True))
    assert coef["is_long=True"] == pytest.approx(-1.0 * coef["y_llm"], abs=0.15)


def test_cv_ordinal_methods_report_accuracy():
    rng = np.random.default_rng(4)
    y_human = rng.integers(1, 6, size=500).astype(float)
    y_llm = 0.5 * y_human + 2 + rng.normal(0, 0.3, 500)
    cv = cross_validate_correction(y_llm, y_human, method="linear_ordinal", metrics=("accuracy",))
    row = cv[cv.fold == "all"].iloc[0]
    assert row.before < 0.3 and row.after > 0.6


def test_cv_errors():
    y = np.arange(10.0)
    with pytest.raises(ValueError, match="unknown method"):
        cross_validate_correction(y, y, method="magic")
    with pytest.raises(ValueError, match="needs X"):
        cross_validate_correction(y, y, method="linear_covariates")
    with pytest.raises(ValueError, match="unknown metric"):
        cross_validate_correction(y, y, metrics=("f1",))
    with pytest.raises(ValueError, match="k must"):
        cross_validate_correction(y, y, k=1)
    with pytest.raises(ValueError, match="exceeds the number of items"):
        cross_validate_correction(y, y, k=11)
    with pytest.raises(ValueError, match="exceeds the number of groups"):
        cross_validate_correction(y, y, k=3, groups=[0] * 5 + [1] * 5)
    with pytest.raises(ValueError, match="same length"):
        cross_validate_correction(y, y[:5])
