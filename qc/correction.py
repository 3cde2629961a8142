"""Corrections of LLM labels and confidences, fitted on gold items.

Every correction is a pair ``fit_<method>(...) -> params`` and ``apply_<method>(params, x)``. The
params are frozen dataclasses with ``to_dict()`` / ``from_dict()`` that round-trip through JSON
(non-finite floats are stored as the strings ``"inf"``, ``"-inf"``, ``"nan"``).

=====================  =================================================================
method                 what it fits
=====================  =================================================================
linear                 ``y_human ~ a + b * y_llm`` by least squares
isotonic               monotone step function (pool-adjacent-violators), as scikit-learn's
                       ``IsotonicRegression(out_of_bounds="clip")``
linear_covariates      ``y_human ~ a + b * y_llm + X @ c`` with numeric and one-hot columns
ordinal_cuts           cut points mapping a continuous score onto an ordinal scale
platt                  ``P(correct) = sigmoid(a * logit(confidence) + b)``
temperature            ``softmax(logits / T)`` (or ``sigmoid(logit(p) / T)`` for 1-D input)
confusion              ``M[i, j] = P(llm = j | true = i)`` for correcting class prevalence
=====================  =================================================================

:func:`cross_validate_correction` scores any of them out of fold, before and after.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy import optimize, special

__all__ = [
    "ConfusionParams",
    "LinearCovariatesParams",
    "LinearParams",
    "IsotonicParams",
    "OrdinalCutsParams",
    "PlattParams",
    "TemperatureParams",
    "apply_confusion",
    "apply_isotonic",
    "apply_linear",
    "apply_linear_covariates",
    "apply_ordinal_cuts",
    "apply_platt",
    "apply_temperature",
    "cross_validate_correction",
    "fit_confusion",
    "fit_isotonic",
    "fit_linear",
    "fit_linear_covariates",
    "fit_ordinal_cuts",
    "fit_platt",
    "fit_temperature",
    "params_from_dict",
    "project_to_simplex",
    "rogan_gladen",
]

_EPS = 1e-12


# ---------------------------------------------------------------- JSON-able params
def _to_json(v):
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (tuple, list, np.ndarray)):
        return [_to_json(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): _to_json(x) for k, x in v.items()}
    return v


def _from_json(v):
    if isinstance(v, str) and v in ("nan", "inf", "-inf"):
        return float(v)
    if isinstance(v, list):
        return tuple(_from_json(x) for x in v)
    if isinstance(v, dict):
        return {k: _from_json(x) for k, x in v.items()}
    return v


@dataclass(frozen=True)
class _Params:
    method: ClassVar[str] = ""

    def to_dict(self) -> dict:
        """Plain JSON-able dict, with a ``"method"`` key."""
        return {"method": self.method, **{f.name: _to_json(getattr(self, f.name)) for f in fields(self)}}

    @classmethod
    def from_dict(cls, d: Mapping):
        """Inverse of :meth:`to_dict`."""
        if not isinstance(d, Mapping):
            raise ValueError("from_dict expects a mapping")
        if d.get("method", cls.method) != cls.method:
            raise ValueError(f"expected params of method {cls.method!r}, got {d.get('method')!r}")
        names = {f.name for f in fields(cls)}
        missing = names - set(d)
        if missing:
            raise ValueError(f"missing keys for {cls.__name__}: {sorted(missing)}")
        return cls(**{k: _from_json(d[k]) for k in names})


def params_from_dict(d: Mapping) -> _Params:
    """Rebuild any correction params from :meth:`to_dict` output, dispatching on ``"method"``.

    Examples
    --------
    >>> params_from_dict(LinearParams(0.5, 0.9, n=10).to_dict())
    LinearParams(intercept=0.5, slope=0.9, n=10)
    """
    classes = {
        c.method: c
        for c in (
            LinearParams,
            IsotonicParams,
            LinearCovariatesParams,
            OrdinalCutsParams,
            PlattParams,
            TemperatureParams,
            ConfusionParams,
        )
    }
    m = d.get("method") if isinstance(d, Mapping) else None
    if m not in classes:
        raise ValueError(f"unknown correction method {m!r}; expected one of {sorted(classes)}")
    return classes[m].from_dict(d)


# ---------------------------------------------------------------- validation helpers
def _vec(x, name: str, *, allow_nan: bool = False) -> np.ndarray:
    if isinstance(x, (pd.Series, pd.Index)):
        x = x.to_numpy()
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be numeric") from e
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if not allow_nan and np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN")
    return arr


def _pair(a, b, na: str, nb: str, *, min_n: int = 1) -> tuple[np.ndarray, np.ndarray]:
    x, y = _vec(a, na), _vec(b, nb)
    if x.size != y.size:
        raise ValueError(f"{na} and {nb} must have the same length, got {x.size} and {y.size}")
    if x.size < min_n:
        raise ValueError(f"need at least {min_n} items, got {x.size}")
    return x, y


# ---------------------------------------------------------------- linear
@dataclass(frozen=True)
class LinearParams(_Params):
    """``y_human ≈ intercept + slope * y_llm``."""

    method: ClassVar[str] = "linear"
    intercept: float
    slope: float
    n: int


def fit_linear(y_llm, y_human) -> LinearParams:
    """Least-squares line from LLM scores to human scores.

    Parameters
    ----------
    y_llm, y_human : array-like of float, shape (n,)

    Returns
    -------
    LinearParams

    Examples
    --------
    >>> p = fit_linear([1, 2, 3, 4], [2, 3.5, 5, 6.5])
    >>> round(p.intercept, 6), round(p.slope, 6)
    (0.5, 1.5)
    >>> apply_linear(p, [10]).tolist()
    [15.5]
    """
    x, y = _pair(y_llm, y_human, "y_llm", "y_human", min_n=2)
    xc = x - x.mean()
    sxx = float(xc @ xc)
    if sxx <= _EPS * max(1.0, float(x @ x)):
        raise ValueError("y_llm is constant: a slope cannot be fitted")
    slope = float(xc @ (y - y.mean())) / sxx
    return LinearParams(intercept=float(y.mean() - slope * x.mean()), slope=slope, n=int(x.size))


def apply_linear(params: LinearParams, y_llm) -> np.ndarray:
    """``intercept + slope * y_llm``, shape (n,)."""
    return params.intercept + params.slope * _vec(y_llm, "y_llm")


# ---------------------------------------------------------------- isotonic
@dataclass(frozen=True)
class IsotonicParams(_Params):
    """Knots of a monotone piecewise-linear map; constant beyond the end knots."""

    method: ClassVar[str] = "isotonic"
    x: tuple
    y: tuple
    increasing: bool
    n: int


def fit_isotonic(y_llm, y_human, *, increasing: bool = True, sample_weight=None) -> IsotonicParams:
    """Isotonic regression of human scores on LLM scores.

    Equal ``y_llm`` values are first pooled (weighted mean of ``y_human``), then the
    pool-adjacent-violators algorithm (:func:`scipy.optimize.isotonic_regression`) fits a monotone
    sequence. Prediction interpolates linearly between knots and is clipped outside them, exactly
    as ``sklearn.isotonic.IsotonicRegression(out_of_bounds="clip")``.

    Parameters
    ----------
    y_llm, y_human : array-like of float, shape (n,)
    increasing : bool
        Direction of the fit.
    sample_weight : array-like of float, shape (n,), optional
        Non-negative weights.

    Returns
    -------
    IsotonicParams

    Examples
    --------
    >>> p = fit_isotonic([1, 2, 3, 4], [1, 3, 2, 4])
    >>> apply_isotonic(p, [1, 2, 3, 4, 9]).tolist()
    [1.0, 2.5, 2.5, 4.0, 4.0]
    """
    x, y = _pair(y_llm, y_human, "y_llm", "y_human")
    w = np.ones_like(x) if sample_weight is None else _vec(sample_weight, "sample_weight")
    if w.size != x.size:
        raise ValueError(f"sample_weight must have length {x.size}, got {w.size}")
    if np.any(w < 0) or w.sum() <= 0:
        raise ValueError("sample_weight must be non-negative with a positive sum")
    n_items = int(x.size)
    pos = w > 0
    x, y, w = x[pos], y[pos], w[pos]
    ux, inv = np.unique(x, return_inverse=True)
    wsum = np.bincount(inv, weights=w)
    ymean = np.bincount(inv, weights=w * y) / wsum
    fitted = optimize.isotonic_regression(ymean, weights=wsum, increasing=bool(increasing)).x
    # drop knots in the interior of flat runs (they do not change the interpolation)
    if fitted.size > 2:
        inner = (fitted[1:-1] == fitted[:-2]) & (fitted[1:-1] == fitted[2:])
        keep = np.r_[True, ~inner, True]
        ux, fitted = ux[keep], fitted[keep]
    return IsotonicParams(x=tuple(ux.tolist()), y=tuple(fitted.tolist()), increasing=bool(increasing), n=n_items)


def apply_isotonic(params: IsotonicParams, y_llm) -> np.ndarray:
    """Evaluate the isotonic map at ``y_llm``, shape (n,)."""
    x = _vec(y_llm, "y_llm")
    kx, ky = np.asarray(params.x, float), np.asarray(params.y, float)
    if kx.size == 1:
        return np.full(x.shape, ky[0])
    return np.interp(x, kx, ky)


# ---------------------------------------------------------------- linear with covariates
@dataclass(frozen=True)
class LinearCovariatesParams(_Params):
    """Coefficients of ``y_human ~ 1 + y_llm + numeric + one-hot(categorical)``.

    ``columns[i]`` names ``coefficients[i]``: ``"intercept"``, ``"y_llm"``, each numeric column,
    and ``"<column>=<level>"`` for every non-reference level of a categorical column (the first
    level in sorted order is the reference). ``levels`` maps each categorical column to its levels.
    """

    method: ClassVar[str] = "linear_covariates"
    columns: tuple
    coefficients: tuple
    numeric: tuple
    categorical: tuple
    levels: dict
    n: int


def _covariate_roles(X: pd.DataFrame, categorical) -> tuple[tuple, tuple]:
    if categorical is None:
        categorical = [
            c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c])
        ]
    missing = [c for c in categorical if c not in X.columns]
    if missing:
        raise ValueError(f"categorical columns not found in X: {missing}")
    numeric = tuple(c for c in X.columns if c not in categorical)
    return numeric, tuple(categorical)


def _design(y_llm: np.ndarray, X: pd.DataFrame, numeric, categorical, levels) -> np.ndarray:
    cols = [np.ones(y_llm.size), y_llm]
    for c in numeric:
        v = pd.to_numeric(X[c], errors="coerce").to_numpy(dtype=float)
        if np.isnan(v).any():
            raise ValueError(f"numeric column {c!r} contains NaN or non-numbers")
        cols.append(v)
    for c in categorical:
        v = X[c].astype(object).where(X[c].notna(), "missing").astype(str).to_numpy()
        for lev in levels[c][1:]:
            cols.append((v == lev).astype(float))
    return np.column_stack(cols)


def fit_linear_covariates(y_llm, y_human, X, *, categorical=None) -> LinearCovariatesParams:
    """Least squares of human scores on the LLM score and item covariates.

    Parameters
    ----------
    y_llm, y_human : array-like of float, shape (n,)
    X : DataFrame, shape (n, n_columns)
        Item covariates. Numeric columns enter as they are (no NaN allowed); categorical columns
        (by default the non-numeric and bool ones) are one-hot encoded against the first sorted
        level, with None/NaN as the level ``"missing"``.
    categorical : list of str, optional
        Override which columns are categorical.

    Returns
    -------
    LinearCovariatesParams
        Rank-deficient designs get the minimum-norm least-squares solution.

    Examples
    --------
    >>> X = pd.DataFrame({"long": [0, 0, 1, 1, 0, 1]})
    >>> y_llm = np.array([1, 2, 3, 4, 5, 5])
    >>> p = fit_linear_covariates(y_llm, y_llm - X["long"], X)
    >>> dict(zip(p.columns, (np.round(p.coefficients, 6) + 0.0).tolist()))
    {'intercept': 0.0, 'y_llm': 1.0, 'long': -1.0}
    """
    x, y = _pair(y_llm, y_human, "y_llm", "y_human", min_n=2)
    if not isinstance(X, pd.DataFrame):
        raise ValueError("X must be a pandas DataFrame of item covariates")
    if len(X) != x.size:
        raise ValueError(f"X must have one row per item ({x.size}), got {len(X)}")
    X = X.reset_index(drop=True)
    numeric, categorical = _covariate_roles(X, categorical)
    levels = {
        c: tuple(sorted(X[c].astype(object).where(X[c].notna(), "missing").astype(str).unique())) for c in categorical
    }
    D = _design(x, X, numeric, categorical, levels)
    coef, *_ = np.linalg.lstsq(D, y, rcond=None)
    names = ["intercept", "y_llm", *numeric] + [f"{c}={lev}" for c in categorical for lev in levels[c][1:]]
    return LinearCovariatesParams(
        columns=tuple(names),
        coefficients=tuple(coef.tolist()),
        numeric=numeric,
        categorical=categorical,
        levels=levels,
        n=int(x.size),
    )


def apply_linear_covariates(params: LinearCovariatesParams, y_llm, X) -> np.ndarray:
    """Corrected scores, shape (n,). Unseen categorical levels get the reference level's effect."""
    x = _vec(y_llm, "y_llm")
    if not isinstance(X, pd.DataFrame):
        raise ValueError("X must be a pandas DataFrame of item covariates")
    missing = [c for c in params.numeric + params.categorical if c not in X.columns]
    if missing:
        raise ValueError(f"columns not found in X: {missing}")
    if len(X) != x.size:
        raise ValueError(f"X must have one row per item ({x.size}), got {len(X)}")
    D = _design(x, X.reset_index(drop=True), params.numeric, params.categorical, params.levels)
    return D @ np.asarray(params.coefficients, float)


# ---------------------------------------------------------------- ordinal cut points
@dataclass(frozen=True)
class OrdinalCutsParams(_Params):
    """Map a score ``s`` to ``levels[k]`` where ``k = #{cuts <= s}``."""

    method: ClassVar[str] = "ordinal_cuts"
    levels: tuple
    cuts: tuple
    how: str
    n: int


def fit_ordinal_cuts(score, y_human, *, levels=None, how: str = "agreement") -> OrdinalCutsParams:
    """Cut points that map a continuous (e.g. corrected) score onto an ordinal scale.

    Parameters
    ----------
    score : array-like of float, shape (n,)
        Continuous score, e.g. ``apply_linear(...)`` output.
    y_human : array-like of float, shape (n,)
        Human ordinal labels; every value must be one of ``levels``.
    levels : array-like of float, optional
        The ordinal scale, e.g. ``[1, 2, 3, 4, 5]``; default: the sorted distinct ``y_human``.
    how : {"agreement", "midpoint"}
        ``"midpoint"``: cut halfway between consecutive levels (rounding to the nearest level;
        ignores the data except for ``levels``). ``"agreement"``: the monotone assignment of
        the sorted distinct scores to levels that maximizes exact agreement with ``y_human``
        (dynamic programming; ties go to the lower level), with each cut halfway between the last
        score of one level and the first score of the next. Levels no score is assigned to get
        zero-width ranges; a cut above every fitted score is ``inf`` (below: ``-inf``).

    Returns
    -------
    OrdinalCutsParams

    Examples
    --------
    >>> p = fit_ordinal_cuts([0.2, 0.4, 1.6, 1.9, 2.7], [1, 1, 2, 2, 3], how="agreement")
    >>> p.cuts
    (1.0, 2.3)
    >>> apply_ordinal_cuts(p, [0.0, 1.2, 5.0]).tolist()
    [1.0, 2.0, 3.0]
    >>> fit_ordinal_cuts([0, 1], [1, 2], levels=[1, 2, 3], how="midpoint").cuts
    (1.5, 2.5)
    """
    s, y = _pair(score, y_human, "score", "y_human")
    lev = np.unique(y) if levels is None else np.unique(_vec(levels, "levels"))
    if lev.size < 2:
        raise ValueError("need at least two ordinal levels")
    if not np.isin(y, lev).all():
        raise ValueError(f"y_human has values outside levels {lev.tolist()}")
    if how == "midpoint":
        cuts = (lev[:-1] + lev[1:]) / 2
    elif how == "agreement":
        us, inv = np.unique(s, return_inverse=True)
        K, m = lev.size, us.size
        counts = np.zeros((m, K))
        np.add.at(counts, (inv, np.searchsorted(lev, y)), 1.0)
        best = np.empty((m, K))
        arg = np.empty((m, K), dtype=np.int64)  # argmax of previous row's prefix
        best[0] = counts[0]
        for j in range(1, m):
            prev = best[j - 1]
            run = np.maximum.accumulate(prev)
            # index of the first maximum of prev[:k+1] (lowest level on ties)
            idx = np.zeros(K, dtype=np.int64)
            for k in range(1, K):
                idx[k] = idx[k - 1] if prev[idx[k - 1]] >= prev[k] else k
            arg[j] = idx
            best[j] = counts[j] + run
        assign = np.empty(m, dtype=np.int64)
        assign[-1] = int(np.argmax(best[-1]))
        for j in range(m - 1, 0, -1):
            assign[j - 1] = arg[j][assign[j]]
        cuts = np.empty(K - 1)
        for k in range(K - 1):
            below = np.nonzero(assign <= k)[0]
            above = np.nonzero(assign > k)[0]
            if below.size == 0:
                cuts[k] = -np.inf
            elif above.size == 0:
                cuts[k] = np.inf
            else:
                cuts[k] = (us[below[-1]] + us[above[0]]) / 2
    else:
        raise ValueError(f"how must be 'agreement' or 'midpoint', got {how!r}")
    return OrdinalCutsParams(levels=tuple(lev.tolist()), cuts=tuple(float(c) for c in cuts), how=how, n=int(s.size))


def apply_ordinal_cuts(params: OrdinalCutsParams, score) -> np.ndarray:
    """Ordinal level of each score, shape (n,)."""
    s = _vec(score, "score")
    k = np.searchsorted(np.asarray(params.cuts, float), s, side="right")
    return np.asarray(params.levels, float)[k]


# ---------------------------------------------------------------- Platt
@dataclass(frozen=True)
class PlattParams(_Params):
    """``P(correct) = sigmoid(a * logit(confidence) + b)``."""

    method: ClassVar[str] = "platt"
    a: float
    b: float
    n: int


def _logit(p: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    p = np.clip(p, eps, 1 - eps)
    return np.log(p) - np.log1p(-p)


def _check_binary(y, name: str, n: int) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.size != n:
        raise ValueError(f"{name} must be one-dimensional of length {n}, got shape {arr.shape}")
    if pd.isna(pd.Series(arr, dtype=object)).any():
        raise ValueError(f"{name} contains missing values")
    if not np.isin(arr, [0, 1]).all():
        raise ValueError(f"{name} must be boolean or 0/1")
    out = arr.astype(float)
    if out.min() == out.max():
        raise ValueError(f"{name} has only one class: cannot fit a calibration map")
    return out


def _fit_logistic_1d(z: np.ndarray, y: np.ndarray, *, ridge: float = 1e-8) -> tuple[float, float]:
    """Newton-Raphson for ``y ~ sigmoid(a z + b)`` (tiny ridge on ``a`` for separable data)."""
    D = np.column_stack([z, np.ones_like(z)])
    beta = np.zeros(2)
    R = np.diag([ridge * z.size, 0.0])
    for _ in range(100):
        p = special.expit(D @ beta)
        g = D.T @ (p - y) + R @ beta
        H = (D * (p * (1 - p))[:, None]).T @ D + R + 1e-12 * np.eye(2)
        step = np.linalg.solve(H, g)
        beta = beta - step
        if np.max(np.abs(step)) < 1e-12:
            break
    return float(beta[0]), float(beta[1])


def fit_platt(confidence, correct) -> PlattParams:
    """Platt scaling of a labeler's confidence in its chosen label.

    Parameters
    ----------
    confidence : array-like of float in [0, 1], shape (n,)
        Stated or token-probability confidence (clipped to [1e-7, 1 - 1e-7] before the logit).
    correct : array-like of bool, shape (n,)
        Whether the chosen label matched gold; both outcomes must occur.

    Returns
    -------
    PlattParams
        Maximum-likelihood ``a, b`` (a 1e-8 * n ridge on ``a`` keeps separable data finite).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> conf = rng.uniform(0.5, 1.0, 4000)
    >>> correct = rng.random(4000) < special.expit(0.5 * _logit(conf))  # overconfident labeler
    >>> p = fit_platt(conf, correct)
    >>> round(p.a, 1), abs(round(p.b, 1))
    (0.5, 0.0)
    """
    c = _vec(confidence, "confidence")
    if np.any((c < 0) | (c > 1)):
        raise ValueError("confidence must lie in [0, 1]")
    y = _check_binary(correct, "correct", c.size)
    a, b = _fit_logistic_1d(_logit(c), y)
    return PlattParams(a=a, b=b, n=int(c.size))


def apply_platt(params: PlattParams, confidence) -> np.ndarray:
    """Calibrated probability of being correct, shape (n,)."""
    c = _vec(confidence, "confidence")
    return special.expit(params.a * _logit(c) + params.b)


# ---------------------------------------------------------------- temperature
@dataclass(frozen=True)
class TemperatureParams(_Params):
    """Divide logits by ``temperature`` before the softmax (or sigmoid)."""

    method: ClassVar[str] = "temperature"
    temperature: float
    n: int


def _temp_nll(logT: float, Z: np.ndarray, target) -> float:
    T = math.exp(logT)
    if Z.ndim == 2:
        lp = special.log_softmax(Z / T, axis=1)
        return -float(lp[np.arange(Z.shape[0]), target].mean())
    return -float(np.mean(target * special.log_expit(Z / T) + (1 - target) * special.log_expit(-Z / T)))


def fit_temperature(logits, y) -> TemperatureParams:
    """Temperature scaling by maximum likelihood.

    Parameters
    ----------
    logits : array-like of float, shape (n, n_classes) or (n,)
        2-D: logits or log-probabilities over the label set (a log-softmax differs from the logits
        by a per-row constant, which the softmax ignores). 1-D: the log-probability of the
        labeler's chosen label (``log p``); it is turned into the binary logit
        ``log p - log(1 - p)`` and scaled as ``sigmoid(logit / T)``.
    y : array-like, shape (n,)
        2-D case: index (0..n_classes-1) of the true class. 1-D case: whether the chosen label was
        correct (bool/0-1).

    Returns
    -------
    TemperatureParams
        ``T`` minimizing the negative log-likelihood over ``log T`` in [-7, 7] (bounded scalar
        search). ``T > 1`` softens an overconfident labeler.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> true_logits = rng.normal(size=(3000, 4)) * 2
    >>> y = (true_logits + rng.gumbel(size=true_logits.shape)).argmax(1)
    >>> round(fit_temperature(true_logits * 3, y).temperature)  # labeler 3x too sharp
    3
    """
    Z = np.asarray(logits, dtype=float)
    if Z.ndim == 2:
        n, K = Z.shape
        if n == 0 or K < 2:
            raise ValueError(f"logits must have shape (n, n_classes >= 2) with n >= 1, got {Z.shape}")
        if not np.isfinite(Z).all():
            raise ValueError("logits must be finite (no NaN or inf)")
        t = np.asarray(y)
        if t.shape != (n,) or not np.issubdtype(t.dtype, np.integer) or t.min() < 0 or t.max() >= K:
            raise ValueError(f"y must hold class indices in 0..{K - 1}, one per row of logits")
        target = t
    elif Z.ndim == 1:
        if Z.size == 0:
            raise ValueError("logits is empty")
        if np.isnan(Z).any() or np.any(Z > 0):
            raise ValueError("1-D logits must be log-probabilities of the chosen label (<= 0, no NaN)")
        target = _check_binary(y, "y", Z.size)
        Z = _logit(np.exp(Z))
    else:
        raise ValueError(f"logits must be 1-D or 2-D, got shape {Z.shape}")
    res = optimize.minimize_scalar(
        _temp_nll, bounds=(-7.0, 7.0), args=(Z, target), method="bounded", options={"xatol": 1e-10}
    )
    return TemperatureParams(temperature=float(math.exp(res.x)), n=int(Z.shape[0]))


def apply_temperature(params: TemperatureParams, logits) -> np.ndarray:
    """Calibrated probabilities.

    Returns
    -------
    ndarray
        For 2-D ``logits`` (n, n_classes): ``softmax(logits / T)``, shape (n, n_classes) (the
        calibrated confidence of the chosen label is its row maximum). For 1-D log-probabilities of
        the chosen label: ``sigmoid(logit(p) / T)``, shape (n,).
    """
    Z = np.asarray(logits, dtype=float)
    T = params.temperature
    if Z.ndim == 2:
        return special.softmax(Z / T, axis=1)
    if Z.ndim == 1:
        if np.any(Z > 0):
            raise ValueError("1-D logits must be log-probabilities (<= 0)")
        return special.expit(_logit(np.exp(Z)) / T)
    raise ValueError(f"logits must be 1-D or 2-D, got shape {Z.shape}")


# ---------------------------------------------------------------- prevalence
def rogan_gladen(q, sensitivity, specificity, *, clip: bool = True) -> float:
    """Rogan-Gladen estimate of a true prevalence from an apparent one.

    ``p = (q + sp - 1) / (se + sp - 1)``, clipped to [0, 1] unless ``clip=False``.

    Parameters
    ----------
    q : float
        Share of items the labeler calls positive.
    sensitivity, specificity : float
        ``P(llm positive | true positive)`` and ``P(llm negative | true negative)``.

    Examples
    --------
    >>> round(rogan_gladen(0.3, 0.9, 0.95), 6)
    0.294118
    """
    q, se, sp = float(q), float(sensitivity), float(specificity)
    for name, v in (("q", q), ("sensitivity", se), ("specificity", sp)):
        if not 0 <= v <= 1:
            raise ValueError(f"{name} must lie in [0, 1], got {v}")
    j = se + sp - 1
    if j <= 0:
        raise ValueError(f"sensitivity + specificity must exceed 1 (Youden J > 0), got J = {j:.4g}")
    p = (q + sp - 1) / j
    return float(min(max(p, 0.0), 1.0)) if clip else float(p)


def project_to_simplex(v) -> np.ndarray:
    """Euclidean projection of a vector onto the probability simplex (Duchi et al. 2008).

    Examples
    --------
    >>> project_to_simplex([0.5, 0.7, -0.1]).round(6).tolist()
    [0.4, 0.6, 0.0]
    """
    v = _vec(v, "v")
    if v.size == 0:
        raise ValueError("v is empty")
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - 1.0
    ind = np.arange(1, v.size + 1)
    rho = np.nonzero(u - css / ind > 0)[0][-1]
    theta = css[rho] / (rho + 1)
    return np.maximum(v - theta, 0.0)


@dataclass(frozen=True)
class ConfusionParams(_Params):
    """Row-stochastic ``matrix[i][j] = P(llm = labels[j] | true = labels[i])``."""

    method: ClassVar[str] = "confusion"
    labels: tuple
    matrix: tuple
    n: int


def fit_confusion(y_true, y_llm, *, labels=None, smoothing: float = 0.0) -> ConfusionParams:
    """Estimate the labeler's confusion matrix on gold items.

    Parameters
    ----------
    y_true, y_llm : array-like, shape (n,)
        Gold and LLM labels (any hashable values; no missing values).
    labels : sequence, optional
        Label set and order; default: sorted union of both.
    smoothing : float
        Added to every cell before normalizing rows (0 = maximum likelihood).

    Returns
    -------
    ConfusionParams

    Examples
    --------
    >>> p = fit_confusion(["a", "a", "a", "b"], ["a", "a", "b", "b"])
    >>> np.round(p.matrix, 3).tolist()
    [[0.667, 0.333], [0.0, 1.0]]
    """
    t = np.asarray(y_true, dtype=object)
    h = np.asarray(y_llm, dtype=object)
    if t.ndim != 1 or h.ndim != 1 or t.size != h.size:
        raise ValueError(f"y_true and y_llm must be 1-D of the same length, got {t.shape} and {h.shape}")
    if t.size == 0:
        raise ValueError("y_true is empty")
    if pd.isna(pd.Series(t)).any() or pd.isna(pd.Series(h)).any():
        raise ValueError("y_true and y_llm must not contain missing labels")
    labs = sorted(set(t.tolist()) | set(h.tolist()), key=str) if labels is None else list(labels)
    if len(labs) < 2:
        raise ValueError("need at least two labels (only one class present)")
    pos = {lab: i for i, lab in enumerate(labs)}
    bad = [v for v in set(t.tolist()) | set(h.tolist()) if v not in pos]
    if bad:
        raise ValueError(f"labels {bad} not in the given label set {labs}")
    K = len(labs)
    ti = np.fromiter((pos[v] for v in t), np.int64, t.size)
    hi = np.fromiter((pos[v] for v in h), np.int64, h.size)
    C = np.bincount(ti * K + hi, minlength=K * K).reshape(K, K).astype(float) + float(smoothing)
    rows = C.sum(axis=1, keepdims=True)
    empty = [labs[i] for i in np.nonzero(rows[:, 0] == 0)[0]]
    if empty:
        raise ValueError(f"no gold items with true label(s) {empty}: their row of the matrix is unknown")
    return ConfusionParams(labels=tuple(labs), matrix=tuple(tuple(r) for r in (C / rows).tolist()), n=int(t.size))


def apply_confusion(params: ConfusionParams, y_llm_or_q) -> pd.Series:
    """Corrected class prevalence of an LLM-labeled population.

    Solves ``M^T p = q`` by least squares (``q``: the LLM's label shares) and projects the solution
    onto the probability simplex (Euclidean projection). This is the projection of the
    unconstrained solution, not a simplex-constrained least squares; the two agree whenever the
    unconstrained solution already is a distribution. For two classes without clipping it equals
    :func:`rogan_gladen`.

    Parameters
    ----------
    params : ConfusionParams
    y_llm_or_q : array-like
        Either the LLM labels of the population (shape (N,), values in ``params.labels``) or their
        shares/counts ``q`` (numeric, shape (n_classes,), in label order; normalized to sum 1).

    Returns
    -------
    Series
        Corrected prevalence indexed by label, summing to 1.

    Examples
    --------
    >>> p = fit_confusion([0] * 50 + [1] * 50, [0] * 45 + [1] * 5 + [0] * 10 + [1] * 40)
    >>> apply_confusion(p, [0.62, 0.38]).round(4).tolist()
    [0.6, 0.4]
    >>> apply_confusion(p, [0.55, 0.45]).round(4).tolist()
    [0.5, 0.5]
    """
    labs = list(params.labels)
    M = np.asarray(params.matrix, float)
    arr = np.asarray(y_llm_or_q, dtype=object)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError("y_llm_or_q must be a non-empty 1-D array")
    is_q = (
        arr.size == len(labs)
        and all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in arr)
        and not set(arr.tolist()) <= set(labs)
    )
    if is_q:
        q = arr.astype(float)
        if np.isnan(q).any() or np.any(q < 0) or q.sum() <= 0:
            raise ValueError("q must be non-negative shares or counts with a positive sum")
        q = q / q.sum()
    else:
        pos = {lab: i for i, lab in enumerate(labs)}
        bad = {v for v in arr.tolist() if v not in pos}
        if bad:
            raise ValueError(f"LLM labels {sorted(map(str, bad))} not in the fitted label set {labs}")
        q = np.bincount([pos[v] for v in arr.tolist()], minlength=len(labs)) / arr.size
    p, *_ = np.linalg.lstsq(M.T, q, rcond=None)
    return pd.Series(project_to_simplex(p), index=pd.Index(labs, name="label"), name="prevalence")


# ---------------------------------------------------------------- cross-validation
def _metric_fn(name) -> tuple[str, Callable]:
    if callable(name):
        return getattr(name, "__name__", "metric"), name
    table = {
        "mae": lambda p, y: float(np.mean(np.abs(p - y))),
        "rmse": lambda p, y: float(np.sqrt(np.mean((p - y) ** 2))),
        "mean_signed_error": lambda p, y: float(np.mean(p - y)),
        "abs_mean_signed_error": lambda p, y: float(abs(np.mean(p - y))),
        "accuracy": lambda p, y: float(np.mean(p == y)),
        "accuracy_rounded": lambda p, y: float(np.mean(np.round(p) == y)),
    }
    if name not in table:
        raise ValueError(f"unknown metric {name!r}; expected one of {sorted(table)} or a callable")
    return name, table[name]


def _method_pair(method, X):
    if isinstance(method, tuple) and len(method) == 2 and all(callable(f) for f in method):
        fit, apply = method
        return getattr(fit, "__name__", "custom"), fit, apply
    builtins = {
        "linear": (lambda a, b, Xt: fit_linear(a, b), lambda p, a, Xt: apply_linear(p, a)),
        "isotonic": (lambda a, b, Xt: fit_isotonic(a, b), lambda p, a, Xt: apply_isotonic(p, a)),
        "linear_covariates": (fit_linear_covariates, apply_linear_covariates),
        "ordinal_cuts": (
            lambda a, b, Xt: fit_ordinal_cuts(a, b),
            lambda p, a, Xt: apply_ordinal_cuts(p, a),
        ),
        "linear_ordinal": (
            lambda a, b, Xt: (lin := fit_linear(a, b), fit_ordinal_cuts(apply_linear(lin, a), b)),
            lambda p, a, Xt: apply_ordinal_cuts(p[1], apply_linear(p[0], a)),
        ),
    }
    if not isinstance(method, str) or method not in builtins:
        raise ValueError(
            f"unknown method {method!r}; expected one of {sorted(builtins)} or a (fit, apply) pair "
            "of callables fit(y_llm, y_human, X) -> params, apply(params, y_llm, X) -> y"
        )
    if method == "linear_covariates" and X is None:
        raise ValueError("method 'linear_covariates' needs X (a DataFrame of item covariates)")
    fit, apply = builtins[method]
    return method, fit, apply


def cross_validate_correction(
    y_llm,
    y_human,
    *,
    method="linear",
    k: int = 5,
    seed: int = 0,
    metrics: Sequence = ("mae", "rmse", "mean_signed_error"),
    X=None,
    groups=None,
) -> pd.DataFrame:
    """Out-of-fold evaluation of a correction, before and after.

    Items are split into ``k`` folds (shuffled with ``seed``; with ``groups``, whole groups stay
    in one fold via ``GroupKFold(shuffle=True)``). For each fold the correction is fitted on the
    other folds only and applied to the held-out fold, so no item is ever scored by a correction
    that saw it.

    Parameters
    ----------
    y_llm, y_human : array-like of float, shape (n,)
    method : str or (fit, apply) pair
        ``"linear"``, ``"isotonic"``, ``"linear_covariates"`` (needs ``X``), ``"ordinal_cuts"``
        (agreement-maximizing cuts on the raw score), ``"linear_ordinal"`` (linear, then
        agreement cuts), or two callables ``fit(y_llm, y_human, X) -> params`` and
        ``apply(params, y_llm, X) -> corrected`` (``X`` is the fold's rows or None).
    k : int
        Number of folds, 2 <= k <= n (or number of groups).
    seed : int
        Seed of the fold assignment.
    metrics : sequence of str or callable
        Names among ``"mae"``, ``"rmse"``, ``"mean_signed_error"`` (corrected minus human),
        ``"abs_mean_signed_error"``, ``"accuracy"`` (exact equality), ``"accuracy_rounded"``, or
        callables ``f(pred, y_human) -> float``.
    X : DataFrame, shape (n, n_columns), optional
        Item covariates, passed to the correction.
    groups : array-like, shape (n,), optional
        Cluster ids (e.g. item id when items have several rows) kept within one fold.

    Returns
    -------
    DataFrame
        One row per (fold, metric): columns ``fold`` (0..k-1, and ``"all"`` for the metric over the
        pooled out-of-fold predictions), ``metric``, ``before`` (raw LLM score), ``after``
        (corrected), ``n_train``, ``n_test``. ``attrs["predictions"]`` holds the pooled
        out-of-fold corrected values (shape (n,), input order), e.g. for per-slice checks.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y_human = rng.normal(3, 1, 300)
    >>> y_llm = 0.5 * y_human + 2 + rng.normal(0, 0.3, 300)
    >>> cv = cross_validate_correction(y_llm, y_human, method="linear", seed=0)
    >>> row = cv[(cv.fold == "all") & (cv.metric == "mae")].iloc[0]
    >>> bool(row.after < row.before)
    True
    """
    x, y = _pair(y_llm, y_human, "y_llm", "y_human", min_n=2)
    if X is not None:
        if not isinstance(X, pd.DataFrame):
            raise ValueError("X must be a pandas DataFrame")
        if len(X) != x.size:
            raise ValueError(f"X must have one row per item ({x.size}), got {len(X)}")
        X = X.reset_index(drop=True)
    name, fit, apply = _method_pair(method, X)
    mets = [_metric_fn(m) for m in metrics]
    if not mets:
        raise ValueError("metrics is empty")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError(f"k must be an integer >= 2, got {k!r}")
    from sklearn.model_selection import GroupKFold, KFold

    if groups is not None:
        g = np.asarray(groups, dtype=object)
        if g.shape != (x.size,):
            raise ValueError(f"groups must have shape ({x.size},), got {g.shape}")
        if pd.isna(pd.Series(g)).any():
            raise ValueError("groups contains missing values")
        gcodes = pd.factorize(pd.Series(g))[0]
        if k > gcodes.max() + 1:
            raise ValueError(f"k={k} exceeds the number of groups ({gcodes.max() + 1})")
        splits = GroupKFold(n_splits=k, shuffle=True, random_state=int(seed)).split(x, y, gcodes)
    else:
        if k > x.size:
            raise ValueError(f"k={k} exceeds the number of items ({x.size})")
        splits = KFold(n_splits=k, shuffle=True, random_state=int(seed)).split(x)
    pred = np.full(x.size, np.nan)
    rows = []
    for fold, (train, test) in enumerate(splits):
        assert np.intersect1d(train, test).size == 0
        Xtr = None if X is None else X.iloc[train].reset_index(drop=True)
        Xte = None if X is None else X.iloc[test].reset_index(drop=True)
        params = fit(x[train], y[train], Xtr)
        pred[test] = np.asarray(apply(params, x[test], Xte), dtype=float)
        for mname, f in mets:
            rows.append(
                {
                    "fold": fold,
                    "metric": mname,
                    "before": f(x[test], y[test]),
                    "after": f(pred[test], y[test]),
                    "n_train": int(train.size),
                    "n_test": int(test.size),
                }
            )
    for mname, f in mets:
        rows.append(
            {
                "fold": "all",
                "metric": mname,
                "before": f(x, y),
                "after": f(pred, y),
                "n_train": None,
                "n_test": int(x.size),
            }
        )
    out = pd.DataFrame(rows)
    out["fold"] = out["fold"].astype(object)
    out["n_train"] = out["n_train"].astype("Int64")
    out.attrs["method"] = name
    out.attrs["predictions"] = pred  # the pooled out-of-fold corrected values, in input order
    return out
