"""Prediction-powered inference: population means from many LLM labels and a few gold labels.

The population has ``N`` items labeled only by the LLM (``yhat_unlabeled``) and ``n`` gold items
labeled by both people (``y_gold``) and the LLM (``yhat_gold``). PPI++ (Angelopoulos, Duchi and
Zrnic, 2023, "PPI++: Efficient Prediction-Powered Inference", arXiv:2311.01453) estimates the mean
of the human label as

    theta(lam) = lam * mean(yhat_unlabeled) + mean(y_gold - lam * yhat_gold)

which is unbiased for every ``lam``; the LLM labels only reduce variance. ``lam = 1`` is plain PPI,
``lam = 0`` the classical gold-only mean, and the tuned ``lam`` minimizes the estimated variance,
so the interval is never (asymptotically) wider than the classical one. The formulas follow
``ppi_py`` 0.2.3 exactly (normal interval; standard deviations with ``ddof=0``; tuned ``lam``
clipped to [0, 1]), and the tests compare with it.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from qc.estimate import Estimate

__all__ = ["classical_mean_ci", "ppi_lambda", "ppi_mean_ci", "ppi_proportion_ci"]


def _level(level) -> float:
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"level must be a number in (0, 1), got {level!r}")
    return float(level)


def _arr(x, name: str) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be numeric") from e
    if a.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty")
    if np.isnan(a).any():
        raise ValueError(f"{name} contains NaN")
    return a


def _inputs(y_gold, yhat_gold, yhat_unlabeled) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = _arr(y_gold, "y_gold")
    yh = _arr(yhat_gold, "yhat_gold")
    yu = _arr(yhat_unlabeled, "yhat_unlabeled")
    if y.size != yh.size:
        raise ValueError(f"y_gold and yhat_gold must have the same length, got {y.size} and {yh.size}")
    if y.size < 2:
        raise ValueError("need at least 2 gold items")
    return y, yh, yu


def ppi_lambda(y_gold, yhat_gold, yhat_unlabeled) -> float:
    """Power-tuning parameter of PPI++ for a mean.

    ``lam = cov(y, yhat) / ((1 + n / N) * var(yhat_all))`` on the gold items (covariance with
    ``ddof=0``) and all LLM labels (variance with ``ddof=1``), clipped to [0, 1]; 0 when the LLM
    labels are constant.

    Parameters
    ----------
    y_gold, yhat_gold : array-like of float, shape (n,)
    yhat_unlabeled : array-like of float, shape (N,)

    Returns
    -------
    float

    Examples
    --------
    >>> round(ppi_lambda([0, 1, 1, 0], [0, 1, 1, 0], [0, 1] * 50), 4)
    0.9523
    """
    y, yh, yu = _inputs(y_gold, yhat_gold, yhat_unlabeled)
    n, N = y.size, yu.size
    cov = float(np.mean((y - y.mean()) * (yh - yh.mean())))
    allh = np.concatenate([yh, yu])
    var = float(np.var(allh, ddof=1)) if allh.size > 1 else 0.0
    if var <= 0:
        return 0.0
    return float(np.clip(cov / ((1 + n / N) * var), 0.0, 1.0))


def ppi_mean_ci(y_gold, yhat_gold, yhat_unlabeled, *, level: float = 0.95, lam=None) -> Estimate:
    """Prediction-powered (PPI++) confidence interval for the mean human label.

    Parameters
    ----------
    y_gold : array-like of float, shape (n,)
        Human labels of the gold items.
    yhat_gold : array-like of float, shape (n,)
        LLM labels of the same gold items.
    yhat_unlabeled : array-like of float, shape (N,)
        LLM labels of the items without gold.
    level : float
        Nominal coverage.
    lam : float, optional
        Power-tuning parameter; None tunes it (:func:`ppi_lambda`), 1 gives plain PPI, 0 the
        classical interval.

    Returns
    -------
    Estimate
        ``estimate = lam * mean(yhat_unlabeled) + mean(y_gold - lam * yhat_gold)`` with the normal
        interval ``± z * sqrt(var(lam * yhat_unlabeled) / N + var(y_gold - lam * yhat_gold) / n)``.
        ``n`` is the number of gold items; ``method`` records ``lam`` and ``N``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> truth = rng.normal(3, 1, 10_200)
    >>> llm = truth + 0.5 + rng.normal(0, 0.3, truth.size)   # biased but informative labeler
    >>> e = ppi_mean_ci(truth[:200], llm[:200], llm[200:])
    >>> c = classical_mean_ci(truth[:200])
    >>> bool(e.ci_high - e.ci_low < 0.5 * (c.ci_high - c.ci_low))
    True
    >>> e.method
    'PPI++ (lambda=0.851, N=10000)'
    """
    level = _level(level)
    y, yh, yu = _inputs(y_gold, yhat_gold, yhat_unlabeled)
    n, N = y.size, yu.size
    if lam is None:
        lam = ppi_lambda(y, yh, yu)
        name = "PPI++"
    else:
        if isinstance(lam, bool) or not isinstance(lam, (int, float, np.floating)) or not math.isfinite(lam):
            raise ValueError(f"lam must be a finite number or None, got {lam!r}")
        lam = float(lam)
        name = "PPI" if lam == 1.0 else "PPI (fixed lambda)"
    est = float(lam * yu.mean() + np.mean(y - lam * yh))
    se = math.sqrt(float(np.var(lam * yu)) / N + float(np.var(y - lam * yh)) / n)
    z = float(stats.norm.ppf(0.5 + level / 2))
    return Estimate(est, est - z * se, est + z * se, n=int(n), method=f"{name} (lambda={lam:.3g}, N={N})", level=level)


def ppi_proportion_ci(y_gold, yhat_gold, yhat_unlabeled, *, positive, level: float = 0.95, lam=None) -> Estimate:
    """PPI++ interval for the share of one class (one-vs-rest indicators).

    Parameters
    ----------
    y_gold, yhat_gold : array-like, shape (n,)
        Human and LLM labels of the gold items (any comparable values; missing not allowed).
    yhat_unlabeled : array-like, shape (N,)
        LLM labels of the items without gold.
    positive : object
        The class whose share is estimated; every label equal to it counts 1, any other 0.
    level, lam
        As in :func:`ppi_mean_ci`.

    Returns
    -------
    Estimate
        :func:`ppi_mean_ci` of the indicators, with the point estimate and bounds clipped to [0, 1].

    Examples
    --------
    >>> gold = ["spam", "ham", "ham", "spam", "ham"] * 20
    >>> e = ppi_proportion_ci(gold, gold, ["spam"] * 300 + ["ham"] * 700, positive="spam")
    >>> round(e.estimate, 4), e.ci_low >= 0
    (0.3, True)
    """
    ind = []
    for name, v in (("y_gold", y_gold), ("yhat_gold", yhat_gold), ("yhat_unlabeled", yhat_unlabeled)):
        a = np.asarray(v, dtype=object)
        if a.ndim != 1:
            raise ValueError(f"{name} must be one-dimensional, got shape {a.shape}")
        if any(x is None or (isinstance(x, float) and math.isnan(x)) for x in a):
            raise ValueError(f"{name} contains missing labels")
        ind.append((a == positive).astype(float))
    e = ppi_mean_ci(*ind, level=level, lam=lam)
    clip = lambda v: float(min(max(v, 0.0), 1.0))  # noqa: E731
    return Estimate(clip(e.estimate), clip(e.ci_low), clip(e.ci_high), n=e.n, method=e.method, level=e.level)


def classical_mean_ci(y_gold, *, level: float = 0.95) -> Estimate:
    """Normal-approximation interval for a mean from gold labels alone.

    ``mean ± z * std(ddof=0) / sqrt(n)``: the ``lam = 0`` case of :func:`ppi_mean_ci`, as
    ``ppi_py.classical_mean_ci``, so the two are directly comparable.

    Parameters
    ----------
    y_gold : array-like of float, shape (n,)
    level : float

    Returns
    -------
    Estimate

    Examples
    --------
    >>> e = classical_mean_ci([1, 2, 3, 4])
    >>> round(e.estimate, 2), round(e.ci_low, 4), round(e.ci_high, 4)
    (2.5, 1.4043, 3.5957)
    """
    level = _level(level)
    y = _arr(y_gold, "y_gold")
    if y.size < 2:
        raise ValueError("need at least 2 gold items")
    z = float(stats.norm.ppf(0.5 + level / 2))
    m, se = float(y.mean()), float(y.std()) / math.sqrt(y.size)
    return Estimate(m, m - z * se, m + z * se, n=int(y.size), method="classical (normal)", level=level)
