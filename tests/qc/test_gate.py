"""Tests for qc.gate."""

from __future__ import annotations

import json

import pytest

from qc.estimate import Estimate
from qc.gate import Criterion, CriterionResult, GateResult, default_criteria, evaluate_gate


def E(est, lo, hi, n=300):
    return Estimate(est, lo, hi, n=n, method="test")


def _good_metrics(agree="kappa"):
    return {
        "n_gold": 300,
        agree: E(0.75, 0.65, 0.82),
        "expert_alpha": E(0.8, 0.72, 0.86),
        "ece": E(0.04, 0.02, 0.06),
        "anchor_flip_rate": E(0.03, 0.01, 0.06),
        "cross_family_disagreement": 0.12,
    }


@pytest.mark.parametrize("kind", ["categorical", "pairwise", "ordinal", "continuous"])
def test_default_gate_passes_good_labeler(kind):
    agree = "kappa" if kind in ("categorical", "pairwise") else "alpha"
    g = evaluate_gate(default_criteria(kind), _good_metrics(agree))
    assert g.verdict == "pass" and g.passed and not g.failures
    reasons = {r.criterion.metric: r.reason for r in g.results}
    assert reasons[agree] == f"{agree} ci_low 0.65 > 0.60"
    assert reasons["n_gold"] == "n_gold 300 >= 200"
    assert reasons["ece"] == "ece 0.04 < 0.10"


def test_default_gate_failure_reasons():
    m = _good_metrics()
    m["kappa"] = E(0.68, 0.55, 0.8)  # point estimate fine, lower bound not
    g = evaluate_gate(default_criteria("categorical"), m)
    assert g.verdict == "fail"
    (f,) = g.failures
    assert f.criterion.metric == "kappa" and f.observed == 0.55 and f.n == 300
    assert f.reason == "kappa ci_low 0.55 <= 0.60 (required > 0.60)"


def test_min_n_and_missing_and_optional():
    crit = default_criteria("categorical")
    m = _good_metrics()
    m["kappa"] = E(0.9, 0.8, 0.95, n=150)
    del m["expert_alpha"], m["ece"], m["anchor_flip_rate"]
    m["cross_family_disagreement"] = None
    g = evaluate_gate(crit, m)
    by = {r.criterion.metric: r for r in g.results}
    assert by["kappa"].passed is False and by["kappa"].reason == "kappa: n=150 < min 200"
    assert by["expert_alpha"].passed is False and by["expert_alpha"].reason == "expert_alpha: missing metric"
    for opt in ("ece", "anchor_flip_rate", "cross_family_disagreement"):
        assert by[opt].passed is None and "optional" in by[opt].reason
    assert g.verdict == "fail"


def test_optional_metric_present_and_bad_fails():
    m = _good_metrics()
    m["anchor_flip_rate"] = E(0.2, 0.15, 0.25)
    g = evaluate_gate(default_criteria("categorical"), m)
    assert g.verdict == "fail" and g.failures[0].criterion.metric == "anchor_flip_rate"


def test_bare_float_and_ci_bounds_and_nan():
    c_low = Criterion("kappa", ">=", 0.6, use="ci_low")
    r = evaluate_gate([c_low], {"kappa": 0.9}).results[0]
    assert r.passed is False and "no confidence interval" in r.reason
    c_hi = Criterion("ece", "<", 0.1, use="ci_high")
    assert evaluate_gate([c_hi], {"ece": E(0.05, 0.03, 0.09)}).passed
    assert not evaluate_gate([c_hi], {"ece": E(0.05, 0.03, 0.11)}).passed
    assert not evaluate_gate([Criterion("x", ">", 0)], {"x": float("nan")}).passed
    r = evaluate_gate([Criterion("x", ">", 0, use="ci_low")], {"x": E(1.0, float("nan"), float("nan"))}).results[0]
    assert r.passed is False and "NaN" in r.reason
    r = evaluate_gate([Criterion("x", ">=", 0, min_n=10)], {"x": 5.0}).results[0]
    assert r.passed is False and "n unknown" in r.reason


@pytest.mark.parametrize(
    ("comparator", "value", "expected"),
    [(">=", 0.6, True), (">", 0.6, False), ("<=", 0.6, True), ("<", 0.6, False), (">", 0.61, True), ("<", 0.59, True)],
)
def test_comparators_at_the_boundary(comparator, value, expected):
    assert evaluate_gate([Criterion("m", comparator, 0.6)], {"m": value}).passed is expected


def test_all_optional_and_missing_is_not_a_pass():
    g = evaluate_gate([Criterion("ece", "<", 0.1, optional=True)], {})
    assert g.verdict == "fail"


def test_json_round_trip():
    m = _good_metrics()
    m["kappa"] = E(0.7, float("nan"), float("nan"))
    g = evaluate_gate(default_criteria("pairwise"), m)
    d = json.loads(json.dumps(g.to_dict(), allow_nan=False))
    assert GateResult.from_dict(d).to_dict() == g.to_dict()
    g2 = evaluate_gate(default_criteria("pairwise"), _good_metrics())
    assert GateResult.from_dict(json.loads(json.dumps(g2.to_dict()))) == g2
    for c in default_criteria("ordinal"):
        assert Criterion.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    r = g2.results[0]
    assert CriterionResult.from_dict(r.to_dict()) == r


def test_invalid_input():
    with pytest.raises(ValueError, match="comparator"):
        Criterion("kappa", "=>", 0.6)
    with pytest.raises(ValueError, match="use"):
        Criterion("kappa", ">=", 0.6, use="median")
    with pytest.raises(ValueError, match="threshold"):
        Criterion("kappa", ">=", "high")
    with pytest.raises(ValueError, match="min_n"):
        Criterion("kappa", ">=", 0.6, min_n=-3)
    with pytest.raises(ValueError, match="kind"):
        default_criteria("regression")
    with pytest.raises(ValueError, match="empty"):
        evaluate_gate([], {})
    with pytest.raises(ValueError, match="mapping"):
        evaluate_gate(default_criteria("ordinal"), [("alpha", 0.7)])
    with pytest.raises(ValueError, match="Estimate, a number or None"):
        evaluate_gate([Criterion("m", ">", 0)], {"m": "0.7"})
    with pytest.raises(ValueError, match="unknown Criterion fields"):
        Criterion.from_dict({"metric": "m", "comparator": ">", "threshold": 1, "colour": "red"})
    with pytest.raises(ValueError, match="verdict"):
        GateResult.from_dict({"verdict": "maybe"})
