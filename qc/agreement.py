"""Agreement between two raters, or between a rater and gold labels.

Categorical metrics (accuracy, Cohen's kappa, Gwet's AC1, confusion matrix, precision /
recall / F1) and continuous ones (Pearson, Spearman, Kendall tau-b, MAE, RMSE, signed
error, grouped correlation as NLG evaluation reports it).

Conventions (scikit-learn's): ``*_score`` is higher-better, ``*_error`` lower-better; the
first argument is the reference (``y_true``, e.g. the human label), the second the rater
under test (``y_pred``, e.g. the LLM label). Inputs are 1-D array-likes of equal length
without missing values; anything else raises ``ValueError`` naming the problem.

The categorical metrics are computed from the confusion matrix by small vectorized
formulas (``_kappa_from_cm`` and friends) that also accept a stack of matrices; the
bootstrap in :mod:`qc.uncertainty` reuses them, so a point estimate and its resamples are
always computed by the same code.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "accuracy_score",
    "cohen_kappa_score",
    "gwet_ac1_score",
    "confusion_matrix",
    "precision_recall_f1_by_class",
    "macro_f1_score",
    "pearson_score",
    "spearman_score",
    "kendall_tau_score",
    "mean_absolute_error",
    "root_mean_squared_error",
    "mean_signed_error",
    "grouped_correlation",
]

_WEIGHTS = (None, "linear", "quadratic")
_CORR_METHODS = ("pearson", "spearman", "kendall")
_GROUP_LEVELS = ("item", "per_group", "group_means")


# --------------------------------------------------------------------------- validation


def _as_1d(x, name: str) -> np.ndarray:
    """``x`` as a non-empty 1-D ndarray, or ValueError naming ``name``."""
    if isinstance(x, pd.DataFrame):
        raise ValueError(f"{name} must be 1-D (a sequence or Series), got a DataFrame of shape {x.shape}")
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got an array of shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    return arr


def _check_same_length(a: np.ndarray, b: np.ndarray, names: tuple[str, str]) -> None:
    if len(a) != len(b):
        raise ValueError(f"{names[0]} and {names[1]} have different lengths ({len(a)} vs {len(b)})")


def _check_no_missing(arr: np.ndarray, name: str) -> None:
    missing = np.asarray(pd.isna(arr))
    if missing.any():
        where = np.flatnonzero(missing)
        raise ValueError(
            f"{name} contains {where.size} missing value(s) (NaN/None), first at position {where[0]}; "
            "drop or impute them first"
        )


def _categorical_pair(y_true, y_pred, names=("y_true", "y_pred")) -> tuple[np.ndarray, np.ndarray]:
    a = _as_1d(y_true, names[0])
    b = _as_1d(y_pred, names[1])
    _check_same_length(a, b, names)
    _check_no_missing(a, names[0])
    _check_no_missing(b, names[1])
    return a, b


def _numeric_1d(x, name: str) -> np.ndarray:
    arr = _as_1d(x, name)
    try:
        arr = arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric, got values of dtype {arr.dtype}") from exc
    if not np.isfinite(arr).all():
        where = np.flatnonzero(~np.isfinite(arr))
        raise ValueError(
            f"{name} contains {where.size} NaN or infinite value(s), first at position {where[0]}"
        )
    return arr


def _numeric_pair(x, y, names=("y_true", "y_pred")) -> tuple[np.ndarray, np.ndarray]:
    a = _as_1d(x, names[0])
    b = _as_1d(y, names[1])
    _check_same_length(a, b, names)
    return _numeric_1d(a, names[0]), _numeric_1d(b, names[1])


def _resolve_labels(a: np.ndarray, b: np.ndarray, labels) -> np.ndarray:
    """The ordered label set: ``labels`` if given, else the sorted union of observed values."""
    if labels is None:
        both = np.concatenate([a, b])
        try:
            return np.unique(both)
        except TypeError as exc:
            raise ValueError(
                "the labels cannot be sorted (mixed types?); pass labels= with the ordered label set"
            ) from exc
    lab = np.asarray(labels)
    if lab.ndim != 1 or lab.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D sequence, got shape {lab.shape}")
    if pd.Index(lab).has_duplicates:
        raise ValueError("labels contains duplicates")
    return lab


def _encode(values: np.ndarray, labels: np.ndarray, name: str) -> np.ndarray:
    """Integer codes of ``values`` in ``labels`` (ValueError if a value is not a label)."""
    codes = pd.Index(labels).get_indexer(values)
    if (codes < 0).any():
        unknown = pd.unique(values[codes < 0])[:5]
        raise ValueError(f"{name} contains values not in labels: {list(unknown)}")
    return codes.astype(np.intp)


def _encode_pair(y_true, y_pred, labels=None, names=("y_true", "y_pred")):
    """Validate a categorical pair; return (codes_true, codes_pred, labels)."""
    a, b = _categorical_pair(y_true, y_pred, names)
    lab = _resolve_labels(a, b, labels)
    return _encode(a, lab, names[0]), _encode(b, lab, names[1]), lab


def _weight_matrix(n_labels: int, weights) -> np.ndarray:
    """Disagreement weights (K, K): 0 on the diagonal; by label-index distance if ordered."""
    if weights not in _WEIGHTS:
        raise ValueError(f"weights must be None, 'linear' or 'quadratic', got {weights!r}")
    idx = np.arange(n_labels)
    dist = np.abs(idx[:, None] - idx[None, :]).astype(np.float64)
    if weights is None:
        return (dist > 0).astype(np.float64)
    if weights == "linear":
        return dist
    return dist**2


# ------------------------------------------------------ formulas on (stacks of) confusion


def _kappa_from_cm(cm: np.ndarray, weight_matrix: np.ndarray) -> np.ndarray:
    """Cohen's kappa of each confusion matrix in a (..., K, K) stack; NaN where undefined."""
    cm = np.asarray(cm, dtype=np.float64)
    n = cm.sum(axis=(-2, -1))
    rows = cm.sum(axis=-1)
    cols = cm.sum(axis=-2)
    observed = (cm * weight_matrix).sum(axis=(-2, -1))
    # sum_ij w_ij r_i c_j / n, without forming the (..., K, K) outer product
    expected = np.einsum("...i,ij,...j->...", rows, weight_matrix, cols)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = expected / n
        kappa = 1.0 - observed / expected
    return np.where(expected > 0, kappa, np.nan)


def _accuracy_from_cm(cm: np.ndarray) -> np.ndarray:
    cm = np.asarray(cm, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.trace(cm, axis1=-2, axis2=-1) / cm.sum(axis=(-2, -1))


def _ac1_from_cm(cm: np.ndarray) -> np.ndarray:
    """Gwet's AC1 of each (..., K, K) confusion matrix; NaN where undefined (K < 2, n = 0)."""
    cm = np.asarray(cm, dtype=np.float64)
    k = cm.shape[-1]
    n = cm.sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        pa = np.trace(cm, axis1=-2, axis2=-1) / n
        pi = (cm.sum(axis=-1) + cm.sum(axis=-2)) / (2.0 * n[..., None])
        pe = (pi * (1.0 - pi)).sum(axis=-1) / (k - 1) if k > 1 else np.full_like(pa, np.nan)
        return (pa - pe) / (1.0 - pe)


def _prf_from_cm(cm: np.ndarray, zero_division: float = 0.0):
    """Per-class precision, recall, F1 (each (..., K)) from (..., K, K) confusion matrices."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    true_count = cm.sum(axis=-1)
    pred_count = cm.sum(axis=-2)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(pred_count > 0, tp / pred_count, zero_division)
        recall = np.where(true_count > 0, tp / true_count, zero_division)
        denom = true_count + pred_count  # = 2tp + fp + fn
        f1 = np.where(denom > 0, 2.0 * tp / denom, zero_division)
    return precision, recall, f1


def _macro_f1_from_cm(cm: np.ndarray, zero_division: float = 0.0) -> np.ndarray:
    return _prf_from_cm(cm, zero_division)[2].mean(axis=-1)


def _defined(value, what: str) -> float:
    value = float(value)
    if np.isnan(value):
        raise ValueError(what)
    return value


# ------------------------------------------------------------------- categorical metrics


def confusion_matrix(y_true, y_pred, *, labels=None) -> pd.DataFrame:
    """Confusion matrix: rows are ``y_true`` labels, columns ``y_pred`` labels.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        Labels of the reference and of the rater under test; no missing values.
    labels : array-like of shape (K,), optional
        The ordered label set. Default: the sorted union of the observed labels. Unlike
        scikit-learn (which silently drops such items), a value outside ``labels`` raises.

    Returns
    -------
    pandas.DataFrame of shape (K, K)
        Integer counts; index named ``y_true`` and columns named ``y_pred``.

    Examples
    --------
    >>> confusion_matrix(["a", "b", "b"], ["a", "a", "b"]).to_numpy().tolist()
    [[1, 0], [1, 1]]
    """
    ct, cp, lab = _encode_pair(y_true, y_pred, labels)
    k = len(lab)
    cm = np.bincount(ct * k + cp, minlength=k * k).reshape(k, k)
    return pd.DataFrame(
        cm, index=pd.Index(lab, name="y_true"), columns=pd.Index(lab, name="y_pred")
    )


def _cm_array(y_true, y_pred, labels):
    ct, cp, lab = _encode_pair(y_true, y_pred, labels)
    k = len(lab)
    return np.bincount(ct * k + cp, minlength=k * k).reshape(k, k), lab


def accuracy_score(y_true, y_pred) -> float:
    """Share of items on which the two label sequences agree.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        Labels; no missing values.

    Returns
    -------
    float
        In [0, 1].

    Examples
    --------
    >>> accuracy_score([1, 2, 2, 1], [1, 2, 1, 1])
    0.75
    """
    a, b = _categorical_pair(y_true, y_pred)
    return float(np.mean(a == b))


def cohen_kappa_score(y_true, y_pred, *, weights=None, labels=None) -> float:
    """Cohen's kappa, optionally weighted, between two raters.

    ``kappa = 1 - sum(w * O) / sum(w * E)`` with O the observed confusion matrix, E the
    one expected from the marginals and w the disagreement weights: 0/1 (``None``),
    ``|i - j|`` (``"linear"``) or ``(i - j)**2`` (``"quadratic"``) where i, j are positions
    in the ordered label set. Same definition as scikit-learn.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        Labels; no missing values.
    weights : {None, "linear", "quadratic"}
        Weighting of disagreements.
    labels : array-like of shape (K,), optional
        The ordered label set. It matters for the weighted kappas: pass it when the sorted
        order of the values is not their natural order (e.g. ``["low", "mid", "high"]``).
        Default: the sorted union of observed labels.

    Returns
    -------
    float
        In [-1, 1].

    Raises
    ------
    ValueError
        On bad input, or when kappa is undefined (both raters use one and the same label,
        so the expected disagreement is 0).

    Examples
    --------
    >>> round(cohen_kappa_score([1, 2, 3, 3], [1, 2, 3, 2]), 4)
    0.6364
    >>> round(cohen_kappa_score([1, 2, 3, 3], [1, 2, 3, 2], weights="quadratic"), 4)
    0.8
    """
    w = _weight_matrix(0, weights)  # validate weights before the data
    cm, lab = _cm_array(y_true, y_pred, labels)
    w = _weight_matrix(len(lab), weights)
    return _defined(
        _kappa_from_cm(cm, w),
        "kappa is undefined: the expected disagreement is 0 (both raters use a single label)",
    )


def gwet_ac1_score(y_true, y_pred, *, labels=None) -> float:
    """Gwet's AC1 agreement coefficient for two raters (nominal categories).

    ``AC1 = (pa - pe) / (1 - pe)`` with pa the observed agreement,
    ``pe = sum_k pi_k (1 - pi_k) / (K - 1)`` and ``pi_k`` the mean of the two raters'
    shares of category k (Gwet 2008). Unlike kappa it stays defined when the labels are
    very skewed. K is the number of labels, so it depends on ``labels``.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        Labels; no missing values.
    labels : array-like of shape (K,), optional
        The label set (K >= 2). Default: the union of observed labels.

    Returns
    -------
    float
        In [-1, 1].

    Raises
    ------
    ValueError
        On bad input, or when fewer than two labels are known (K < 2).

    Examples
    --------
    >>> round(gwet_ac1_score([1, 1, 1, 2], [1, 1, 2, 2]), 4)
    0.5294
    """
    cm, lab = _cm_array(y_true, y_pred, labels)
    if len(lab) < 2:
        raise ValueError("AC1 needs at least two labels; only one label observed (pass labels=)")
    return float(_ac1_from_cm(cm))


def precision_recall_f1_by_class(y_true, y_pred, *, labels=None, zero_division=0.0) -> pd.DataFrame:
    """Per-class precision, recall, F1 and support, ``y_true`` being the reference.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        Labels; no missing values.
    labels : array-like of shape (K,), optional
        The label set and its order. Default: the sorted union of observed labels.
    zero_division : float
        Value used where a ratio has a zero denominator (no predictions of a class for
        precision, no true items for recall, neither for F1). Default 0, as scikit-learn.

    Returns
    -------
    pandas.DataFrame of shape (K, 4)
        Indexed by class (index name ``class``), columns ``precision``, ``recall``,
        ``f1`` (float) and ``support`` (int: number of ``y_true`` items of the class).

    Examples
    --------
    >>> table = precision_recall_f1_by_class([0, 0, 1, 1], [0, 1, 1, 1])
    >>> table["f1"].round(3).tolist(), table["support"].tolist()
    ([0.667, 0.8], [2, 2])
    """
    cm, lab = _cm_array(y_true, y_pred, labels)
    p, r, f = _prf_from_cm(cm, zero_division)
    return pd.DataFrame(
        {"precision": p, "recall": r, "f1": f, "support": cm.sum(axis=1).astype(np.int64)},
        index=pd.Index(lab, name="class"),
    )


def macro_f1_score(y_true, y_pred, *, labels=None, zero_division=0.0) -> float:
    """Unweighted mean of the per-class F1 scores.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        Labels; no missing values.
    labels : array-like of shape (K,), optional
        Classes to average over. Default: the union of observed labels (as scikit-learn).
    zero_division : float
        F1 of a class that appears in neither sequence (only possible with ``labels``).

    Returns
    -------
    float
        In [0, 1].

    Examples
    --------
    >>> round(macro_f1_score([0, 0, 1, 1], [0, 1, 1, 1]), 4)
    0.7333
    """
    cm, _ = _cm_array(y_true, y_pred, labels)
    return float(_macro_f1_from_cm(cm, zero_division))


# -------------------------------------------------------------------- continuous metrics


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    xc = x - x.mean()
    yc = y - y.mean()
    sxx = np.dot(xc, xc)
    syy = np.dot(yc, yc)
    if len(x) < 2:
        raise ValueError(f"a correlation needs at least 2 items, got {len(x)}")
    if sxx == 0 or syy == 0:
        which = "x" if sxx == 0 else "y"
        raise ValueError(f"the correlation is undefined: {which} is constant")
    r = np.dot(xc, yc) / np.sqrt(sxx * syy)
    return float(np.clip(r, -1.0, 1.0))


def pearson_score(x, y) -> float:
    """Pearson's product-moment correlation.

    Parameters
    ----------
    x, y : array-like of shape (n,)
        Numeric scores, n >= 2, finite.

    Returns
    -------
    float
        In [-1, 1].

    Raises
    ------
    ValueError
        On bad input or when either input is constant (the correlation is undefined).

    Examples
    --------
    >>> pearson_score([1, 2, 3, 4], [1, 3, 2, 4])
    0.8
    """
    a, b = _numeric_pair(x, y, ("x", "y"))
    return _pearson(a, b)


def spearman_score(x, y) -> float:
    """Spearman's rank correlation (Pearson on average ranks; ties get the mean rank).

    Parameters
    ----------
    x, y : array-like of shape (n,)
        Numeric scores, n >= 2, finite.

    Returns
    -------
    float
        In [-1, 1].

    Raises
    ------
    ValueError
        On bad input or when either input is constant.

    Examples
    --------
    >>> spearman_score([1, 2, 3, 4], [10, 30, 20, 40])
    0.8
    """
    a, b = _numeric_pair(x, y, ("x", "y"))
    return _pearson(stats.rankdata(a), stats.rankdata(b))


def _kendall(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 2:
        raise ValueError(f"a correlation needs at least 2 items, got {len(x)}")
    if np.all(x == x[0]) or np.all(y == y[0]):
        which = "x" if np.all(x == x[0]) else "y"
        raise ValueError(f"the correlation is undefined: {which} is constant")
    return float(stats.kendalltau(x, y, variant="b").statistic)


def kendall_tau_score(x, y) -> float:
    """Kendall's tau-b rank correlation (adjusted for ties in either input).

    ``tau_b = (C - D) / sqrt((n0 - n1)(n0 - n2))`` over all item pairs, with C/D the
    concordant/discordant pairs and n1, n2 the pairs tied in x, in y. Computed by
    ``scipy.stats.kendalltau`` (O(n log n)).

    Parameters
    ----------
    x, y : array-like of shape (n,)
        Numeric scores, n >= 2, finite.

    Returns
    -------
    float
        In [-1, 1].

    Raises
    ------
    ValueError
        On bad input or when either input is constant.

    Examples
    --------
    >>> round(kendall_tau_score([1, 2, 3, 4], [1, 3, 2, 4]), 4)
    0.6667
    """
    a, b = _numeric_pair(x, y, ("x", "y"))
    return _kendall(a, b)


def mean_absolute_error(y_true, y_pred) -> float:
    """Mean of ``|y_pred - y_true|``.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        Numeric scores, finite.

    Returns
    -------
    float

    Examples
    --------
    >>> mean_absolute_error([1, 2, 3], [2, 2, 5])
    1.0
    """
    a, b = _numeric_pair(y_true, y_pred)
    return float(np.mean(np.abs(b - a)))


def root_mean_squared_error(y_true, y_pred) -> float:
    """Square root of the mean of ``(y_pred - y_true)**2``.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        Numeric scores, finite.

    Returns
    -------
    float

    Examples
    --------
    >>> root_mean_squared_error([1, 2, 3], [1, 2, 6])
    1.7320508075688772
    """
    a, b = _numeric_pair(y_true, y_pred)
    return float(np.sqrt(np.mean((b - a) ** 2)))


def mean_signed_error(y_true, y_pred) -> float:
    """Mean of ``y_pred - y_true``: positive when the rater scores too high (bias).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        Numeric scores, finite.

    Returns
    -------
    float

    Examples
    --------
    >>> mean_signed_error([1, 2, 3], [2, 2, 5])
    1.0
    """
    a, b = _numeric_pair(y_true, y_pred)
    return float(np.mean(b - a))


# ------------------------------------------------------------------ grouped correlation


def _corr(method: str):
    if method == "pearson":
        return _pearson
    if method == "spearman":
        return lambda a, b: _pearson(stats.rankdata(a), stats.rankdata(b))
    return _kendall


def grouped_correlation(x, y, groups, *, method="pearson", level="item") -> float:
    """Correlation of two scores at the item, per-group or group-mean level.

    NLG evaluation reports a metric's correlation with human scores at several levels;
    ``groups`` says which items belong together (e.g. the system that produced them, or the
    source input they answer):

    - ``"item"``: the correlation over all items, ignoring groups;
    - ``"per_group"``: the correlation inside each group, averaged over groups (unweighted).
      Groups where it is undefined -- fewer than 2 items, or x or y constant in the group --
      are skipped; if no group has a defined correlation, ValueError;
    - ``"group_means"``: the correlation between the per-group means of x and of y
      (e.g. "system-level" correlation); needs at least 2 groups.

    Parameters
    ----------
    x, y : array-like of shape (n,)
        Numeric scores, finite.
    groups : array-like of shape (n,)
        Group label of each item; no missing values.
    method : {"pearson", "spearman", "kendall"}
        Correlation coefficient (Kendall is tau-b).
    level : {"item", "per_group", "group_means"}
        See above.

    Returns
    -------
    float
        In [-1, 1].

    Examples
    --------
    >>> x = [1, 2, 3, 1, 2, 3]
    >>> y = [1, 2, 3, 3, 2, 1]
    >>> g = ["a", "a", "a", "b", "b", "b"]
    >>> grouped_correlation(x, y, g, level="item")
    0.0
    >>> grouped_correlation(x, y, g, level="per_group")
    0.0
    >>> grouped_correlation([1, 2, 3, 4], [2, 4, 5, 9], ["a", "a", "b", "b"], level="group_means")
    1.0
    """
    if method not in _CORR_METHODS:
        raise ValueError(f"method must be one of {_CORR_METHODS}, got {method!r}")
    if level not in _GROUP_LEVELS:
        raise ValueError(f"level must be one of {_GROUP_LEVELS}, got {level!r}")
    a, b = _numeric_pair(x, y, ("x", "y"))
    g = _as_1d(groups, "groups")
    _check_same_length(a, g, ("x", "groups"))
    _check_no_missing(g, "groups")
    corr = _corr(method)
    if level == "item":
        return corr(a, b)
    codes, uniques = pd.factorize(g, sort=False)
    n_groups = len(uniques)
    if level == "group_means":
        if n_groups < 2:
            raise ValueError(f"group_means needs at least 2 groups, got {n_groups}")
        counts = np.bincount(codes, minlength=n_groups)
        return corr(np.bincount(codes, a, n_groups) / counts, np.bincount(codes, b, n_groups) / counts)
    values = _per_group(a, b, codes, n_groups, corr)
    if np.isnan(values).all():
        raise ValueError(
            "no group has a defined correlation (every group has < 2 items or a constant score)"
        )
    return float(np.nanmean(values))


def per_group_correlations(x, y, groups, *, method="pearson") -> tuple[np.ndarray, np.ndarray]:
    """The correlation inside each group: (values, group labels), NaN where it is undefined.

    Undefined: fewer than 2 items, or x or y constant in the group. Groups in order of first
    appearance. The mean of the defined values is ``grouped_correlation(..., level="per_group")``.

    Examples
    --------
    >>> values, labels = per_group_correlations([1, 2, 3, 1, 2, 5], [1, 2, 3, 3, 3, 3], ["a"] * 3 + ["b"] * 3)
    >>> values.tolist(), labels.tolist()
    ([1.0, nan], ['a', 'b'])
    """
    if method not in _CORR_METHODS:
        raise ValueError(f"method must be one of {_CORR_METHODS}, got {method!r}")
    a, b = _numeric_pair(x, y, ("x", "y"))
    g = _as_1d(groups, "groups")
    _check_same_length(a, g, ("x", "groups"))
    _check_no_missing(g, "groups")
    codes, uniques = pd.factorize(g, sort=False)
    return _per_group(a, b, codes, len(uniques), _corr(method)), np.asarray(uniques)


def _per_group(a: np.ndarray, b: np.ndarray, codes: np.ndarray, n_groups: int, corr) -> np.ndarray:
    values = np.full(n_groups, np.nan)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    for idx in np.split(order, bounds):
        if len(idx) == 0:
            continue
        xa, yb = a[idx], b[idx]
        if len(idx) < 2 or np.all(xa == xa[0]) or np.all(yb == yb[0]):
            continue
        values[codes[idx[0]]] = corr(xa, yb)
    return values
