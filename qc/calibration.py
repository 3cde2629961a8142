"""Calibration of a labeler's confidence: is "90% sure" right 90% of the time?

``confidence`` is the labeler's stated probability that its label is right (in [0, 1]);
``correct`` says whether it was (bool or 0/1, against gold). Binning follows scikit-learn's
``calibration_curve``: bin b holds confidences in (lower, upper], the first bin also holds 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from qc.agreement import _as_1d, _check_same_length

__all__ = [
    "reliability_bins",
    "expected_calibration_error",
    "maximum_calibration_error",
    "brier_score_loss",
    "confidence_auroc_score",
    "self_consistency",
]

_STRATEGIES = ("uniform", "quantile")


def _confidence_correct(confidence, correct) -> tuple[np.ndarray, np.ndarray]:
    c = _as_1d(confidence, "confidence")
    y = _as_1d(correct, "correct")
    _check_same_length(c, y, ("confidence", "correct"))
    try:
        c = c.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"confidence must be numeric, got dtype {c.dtype}") from exc
    if np.isnan(c).any():
        raise ValueError(f"confidence contains {int(np.isnan(c).sum())} NaN value(s)")
    if (c < 0).any() or (c > 1).any():
        raise ValueError(f"confidence must lie in [0, 1], got values in [{c.min()}, {c.max()}]")
    if y.dtype != bool:
        if np.asarray(pd.isna(y)).any():
            raise ValueError("correct contains missing values")
        try:
            yf = y.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"correct must be bool or 0/1, got dtype {y.dtype}") from exc
        if not np.isin(yf, (0.0, 1.0)).all():
            raise ValueError("correct must be bool or 0/1, got other values")
        y = yf.astype(bool)
    return c, y


def _bin_edges(c: np.ndarray, n_bins, strategy: str) -> np.ndarray:
    if strategy not in _STRATEGIES:
        raise ValueError(f"strategy must be one of {_STRATEGIES}, got {strategy!r}")
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, n_bins + 1)
    return np.percentile(c, np.linspace(0.0, 1.0, n_bins + 1) * 100)  # as scikit-learn, bit for bit


def reliability_bins(confidence, correct, *, n_bins=10, strategy="uniform") -> pd.DataFrame:
    """Reliability diagram table: per confidence bin, mean confidence and accuracy.

    Parameters
    ----------
    confidence : array-like of shape (n,)
        Stated probability of being right, in [0, 1].
    correct : array-like of shape (n,)
        Whether each label was right (bool or 0/1).
    n_bins : int
        Number of bins.
    strategy : {"uniform", "quantile"}
        Equal-width bins on [0, 1], or bins at the quantiles of ``confidence`` (about
        equal counts). With tied quantiles (coarse, verbalized confidences) some quantile
        bins are empty -- they are left out, so there may be fewer rows than ``n_bins`` --
        and a bin may be a single point (lower == upper). Same bins as scikit-learn.

    Returns
    -------
    pandas.DataFrame of shape (n_bins', 6)
        Columns ``bin`` (0-based), ``lower``, ``upper`` (a bin is (lower, upper], the first
        includes its lower edge), ``n``, ``mean_confidence`` and ``accuracy`` (NaN for an
        empty uniform bin; empty quantile bins are dropped and ``bin`` renumbered).

    Examples
    --------
    >>> t = reliability_bins([0.1, 0.2, 0.9, 0.95], [0, 1, 1, 1], n_bins=2)
    >>> t[["bin", "n", "mean_confidence", "accuracy"]].to_numpy().round(3).tolist()
    [[0.0, 2.0, 0.15, 0.5], [1.0, 2.0, 0.925, 1.0]]
    """
    c, y = _confidence_correct(confidence, correct)
    edges = _bin_edges(c, n_bins, strategy)
    k = len(edges) - 1
    ids = np.searchsorted(edges[1:-1], c)  # scikit-learn's calibration_curve convention
    n = np.bincount(ids, minlength=k)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_conf = np.bincount(ids, weights=c, minlength=k) / n
        acc = np.bincount(ids, weights=y.astype(np.float64), minlength=k) / n
    table = pd.DataFrame(
        {
            "bin": np.arange(k),
            "lower": edges[:-1],
            "upper": edges[1:],
            "n": n.astype(np.int64),
            "mean_confidence": np.where(n > 0, mean_conf, np.nan),
            "accuracy": np.where(n > 0, acc, np.nan),
        }
    )
    if strategy == "quantile":
        table = table[table["n"] > 0].reset_index(drop=True)
        table["bin"] = np.arange(len(table))
    return table


def expected_calibration_error(confidence, correct, *, n_bins=10, strategy="uniform") -> float:
    """Expected calibration error: ``sum_b (n_b / n) |accuracy_b - mean_confidence_b|``.

    Parameters
    ----------
    confidence : array-like of shape (n,)
        Stated probability of being right, in [0, 1].
    correct : array-like of shape (n,)
        Whether each label was right (bool or 0/1).
    n_bins : int
        Number of bins (see :func:`reliability_bins`).
    strategy : {"uniform", "quantile"}
        Binning strategy.

    Returns
    -------
    float
        In [0, 1]; 0 is perfectly calibrated (at this binning). Lower is better.

    Examples
    --------
    >>> round(expected_calibration_error([0.1, 0.2, 0.9, 0.95], [0, 1, 1, 1], n_bins=2), 4)
    0.2125
    """
    t = reliability_bins(confidence, correct, n_bins=n_bins, strategy=strategy)
    t = t[t["n"] > 0]
    gap = (t["accuracy"] - t["mean_confidence"]).abs()
    return float((gap * t["n"]).sum() / t["n"].sum())


def maximum_calibration_error(confidence, correct, *, n_bins=10, strategy="uniform") -> float:
    """Maximum calibration error: the largest ``|accuracy_b - mean_confidence_b|`` over non-empty bins.

    Parameters
    ----------
    confidence : array-like of shape (n,)
        Stated probability of being right, in [0, 1].
    correct : array-like of shape (n,)
        Whether each label was right (bool or 0/1).
    n_bins : int
        Number of bins (see :func:`reliability_bins`).
    strategy : {"uniform", "quantile"}
        Binning strategy.

    Returns
    -------
    float
        In [0, 1]. Lower is better.

    Examples
    --------
    >>> round(maximum_calibration_error([0.1, 0.2, 0.9, 0.95], [0, 1, 1, 1], n_bins=2), 4)
    0.35
    """
    t = reliability_bins(confidence, correct, n_bins=n_bins, strategy=strategy)
    t = t[t["n"] > 0]
    return float((t["accuracy"] - t["mean_confidence"]).abs().max())


def brier_score_loss(confidence, correct) -> float:
    """Brier score of the confidence as a forecast of correctness: ``mean((c - correct)**2)``.

    Parameters
    ----------
    confidence : array-like of shape (n,)
        Stated probability of being right, in [0, 1].
    correct : array-like of shape (n,)
        Whether each label was right (bool or 0/1).

    Returns
    -------
    float
        In [0, 1]. Lower is better.

    Examples
    --------
    >>> brier_score_loss([1.0, 0.5], [1, 0])
    0.125
    """
    c, y = _confidence_correct(confidence, correct)
    return float(np.mean((c - y) ** 2))


def confidence_auroc_score(confidence, correct) -> float:
    """AUROC of the confidence for telling right labels from wrong ones.

    The probability that a randomly chosen right label has a higher confidence than a
    randomly chosen wrong one (ties count one half): 0.5 is an uninformative confidence,
    1 a perfect ranking. Computed from mid-ranks (Mann-Whitney U); equals scikit-learn's
    ``roc_auc_score(correct, confidence)``.

    Parameters
    ----------
    confidence : array-like of shape (n,)
        Stated probability of being right, in [0, 1].
    correct : array-like of shape (n,)
        Whether each label was right (bool or 0/1).

    Returns
    -------
    float
        In [0, 1]. Higher is better.

    Raises
    ------
    ValueError
        When all labels are right or all are wrong: the AUROC is undefined (as in
        scikit-learn, rather than returning NaN).

    Examples
    --------
    >>> confidence_auroc_score([0.9, 0.8, 0.6, 0.3], [1, 0, 1, 0])
    0.75
    """
    c, y = _confidence_correct(confidence, correct)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        which = "right" if n_neg == 0 else "wrong"
        raise ValueError(f"AUROC is undefined: all {len(y)} labels are {which} (need both right and wrong)")
    ranks = stats.rankdata(c)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def self_consistency(samples) -> tuple[np.ndarray, np.ndarray]:
    """Majority label and agreement share over repeated samples of a labeler.

    Parameters
    ----------
    samples : array-like of shape (items, n_samples)
        Labels from ``n_samples`` independent runs (e.g. temperature > 0) per item. Missing
        samples (NaN/None, e.g. unparsable answers) are ignored; an item with no sample
        at all raises ValueError.

    Returns
    -------
    majority : ndarray of shape (items,)
        The most frequent label per item. Ties go to the smallest label in sorted order,
        so the result is deterministic.
    share : ndarray of shape (items,)
        Share of the item's non-missing samples equal to the majority label, in (0, 1].

    Examples
    --------
    >>> majority, share = self_consistency([["A", "B", "A"], ["B", "A", None], ["C", "C", "C"]])
    >>> majority.tolist(), share.round(3).tolist()
    (['A', 'A', 'C'], [0.667, 0.5, 1.0])
    """
    arr = samples.to_numpy() if isinstance(samples, pd.DataFrame) else np.asarray(samples)
    if arr.ndim != 2:
        raise ValueError(f"samples must be 2-D (items, n_samples), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"samples is empty (shape {arr.shape})")
    n_items = arr.shape[0]
    present = ~np.asarray(pd.isna(arr))
    n_present = present.sum(axis=1)
    if (n_present == 0).any():
        raise ValueError(f"item {int(np.flatnonzero(n_present == 0)[0])} has no non-missing sample")
    rows = np.broadcast_to(np.arange(n_items)[:, None], arr.shape)[present]
    try:
        codes, uniques = pd.factorize(arr[present], sort=True)
    except TypeError as exc:
        raise ValueError("the sample labels cannot be sorted (mixed types?)") from exc
    v = len(uniques)
    counts = np.bincount(rows * v + codes, minlength=n_items * v).reshape(n_items, v)
    best = counts.argmax(axis=1)  # first maximum = smallest label in sorted order
    share = counts[np.arange(n_items), best] / n_present
    return np.asarray(uniques)[best], share.astype(np.float64)
