"""qc.calibration: comparison with scikit-learn, hand-computed values, ties, bad input."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm
from sklearn.calibration import calibration_curve

from qc.calibration import (
    brier_score_loss,
    confidence_auroc_score,
    expected_calibration_error,
    maximum_calibration_error,
    reliability_bins,
    self_consistency,
)

TOL = 1e-9


def _random_case(rng):
    n = int(rng.integers(5, 300))
    conf = rng.beta(rng.uniform(0.5, 5), rng.uniform(0.5, 2), n)
    if rng.random() < 0.4:  # verbalized confidences are coarse: many ties, exact bin edges
        conf = np.round(conf * 10) / 10
    correct = rng.random(n) < conf ** rng.uniform(0.5, 2)
    return conf, correct


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("seed", range(30))
def test_bins_match_sklearn_calibration_curve(seed, strategy):
    rng = np.random.default_rng(seed)
    for _ in range(5):
        conf, correct = _random_case(rng)
        n_bins = int(rng.integers(1, 15))
        table = reliability_bins(conf, correct, n_bins=n_bins, strategy=strategy)
        prob_true, prob_pred = calibration_curve(correct, conf, n_bins=n_bins, strategy=strategy)
        filled = table[table["n"] > 0]
        np.testing.assert_allclose(filled["accuracy"], prob_true, atol=TOL)
        np.testing.assert_allclose(filled["mean_confidence"], prob_pred, atol=TOL)
        # bin counts by calibration_curve's own rule (edges, then searchsorted on the inner ones),
        # counted here, not taken from qc's table
        edges = np.linspace(0, 1, n_bins + 1)
        if strategy == "quantile":
            edges = np.percentile(conf, edges * 100)
        counts = np.bincount(np.searchsorted(edges[1:-1], conf), minlength=n_bins)
        np.testing.assert_array_equal(filled["n"], counts[counts > 0])  # quantile tables drop empty bins
        if strategy == "uniform":
            np.testing.assert_array_equal(table["n"], counts)
        # ECE / MCE by their definition over the same bins
        gaps = np.abs(prob_true - prob_pred)
        assert expected_calibration_error(conf, correct, n_bins=n_bins, strategy=strategy) == pytest.approx(
            np.sum(gaps * counts[counts > 0]) / len(conf), abs=TOL
        )
        assert maximum_calibration_error(conf, correct, n_bins=n_bins, strategy=strategy) == pytest.approx(
            gaps.max(), abs=TOL
        )


@pytest.mark.parametrize("seed", range(30))
def test_brier_and_auroc_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    for _ in range(8):
        conf, correct = _random_case(rng)
        assert brier_score_loss(conf, correct) == pytest.approx(skm.brier_score_loss(correct, conf), abs=TOL)
        if correct.all() or not correct.any():
            with pytest.raises(ValueError, match="AUROC is undefined"):
                confidence_auroc_score(conf, correct)
            continue
        assert confidence_auroc_score(conf, correct) == pytest.approx(skm.roc_auc_score(correct, conf), abs=TOL)


def test_uniform_bins_table_layout():
    t = reliability_bins([0.0, 0.1, 0.35, 1.0], [True, False, True, True], n_bins=4)
    assert list(t.columns) == ["bin", "lower", "upper", "n", "mean_confidence", "accuracy"]
    assert t["n"].tolist() == [2, 1, 0, 1]  # 0.0 in the first bin, 1.0 in the last
    assert np.isnan(t.loc[2, "accuracy"]) and np.isnan(t.loc[2, "mean_confidence"])
    assert t["lower"].tolist() == [0.0, 0.25, 0.5, 0.75] and t["upper"].iloc[-1] == 1.0


def test_perfectly_calibrated_bins_have_zero_ece():
    conf = np.repeat([0.25, 0.75], 4)
    correct = [1, 0, 0, 0, 1, 1, 1, 0]
    assert expected_calibration_error(conf, correct, n_bins=2) == 0.0
    assert maximum_calibration_error(conf, correct, n_bins=2) == 0.0
    # always 100% sure but right half the time: ECE = MCE = 0.5
    assert expected_calibration_error([1.0] * 4, [1, 0, 1, 0]) == 0.5


def _majority_by_counting(row):
    counts = Counter(v for v in row if v is not None and not (isinstance(v, float) and np.isnan(v)))
    top = max(counts.values())
    label = min(k for k, c in counts.items() if c == top)
    return label, top / sum(counts.values())


@pytest.mark.parametrize("seed", range(10))
def test_self_consistency_matches_counting(seed):
    rng = np.random.default_rng(seed)
    samples = rng.integers(0, 4, (50, int(rng.integers(1, 8)))).astype(object)
    samples[rng.random(samples.shape) < 0.2] = None
    samples[:, 0] = np.where(pd.isna(samples[:, 0]), 3, samples[:, 0])  # every item has a sample
    majority, share = self_consistency(samples)
    expected = [_majority_by_counting(row) for row in samples]
    assert majority.tolist() == [e[0] for e in expected]
    np.testing.assert_allclose(share, [e[1] for e in expected], atol=TOL)


def test_self_consistency_breaks_ties_by_sorted_label():
    majority, share = self_consistency([["b", "a"], ["a", "b"], ["c", "b", ], ["x", "x"]])
    assert majority.tolist() == ["a", "a", "b", "x"]
    assert share.tolist() == [0.5, 0.5, 0.5, 1.0]
    majority, _ = self_consistency(np.array([[2.0, 1.0, np.nan, 2.0, 1.0]]))
    assert majority.tolist() == [1.0]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: brier_score_loss([0.5, 0.5], [1]), r"different lengths \(2 vs 1\)"),
        (lambda: brier_score_loss([0.5, 1.5], [1, 0]), r"must lie in \[0, 1\]"),
        (lambda: brier_score_loss([0.5, np.nan], [1, 0]), "NaN"),
        (lambda: brier_score_loss([0.5, 0.5], [1, 2]), "bool or 0/1"),
        (lambda: brier_score_loss([], []), "empty"),
        (lambda: reliability_bins([0.5], [1], strategy="kmeans"), "strategy must be one of"),
        (lambda: reliability_bins([0.5], [1], n_bins=0), "n_bins must be a positive integer"),
        (lambda: confidence_auroc_score([0.2, 0.9], [1, 1]), "all 2 labels are right"),
        (lambda: confidence_auroc_score([0.2, 0.9], [0, 0]), "all 2 labels are wrong"),
        (lambda: self_consistency(["a", "b"]), "must be 2-D"),
        (lambda: self_consistency([["a", None], [None, None]]), "item 1 has no non-missing sample"),
    ],
)
def test_invalid_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
