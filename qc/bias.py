"""Where and how a labeler is biased against people.

- :func:`slice_bias`: signed error and agreement per slice (a categorical column, or a numeric one
  binned by :func:`quantile_bins`), each with a CI, and tests of whether slices differ.
- :func:`bias_regression`: OLS of (labeler - human) on item features with HC3 robust errors.
- :func:`self_preference`: does the labeler favour outputs of its own model family?
- :func:`position_bias`: changed verdicts under swapped order, and first-position wins.
- :func:`kl_divergence`, :func:`js_divergence`, :func:`label_divergence`: label distributions.
- :func:`recall_gap`: per-class recall and minority-class collapse.

Signed error is always ``labeler - human`` (positive: the labeler over-rates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from qc.estimate import Estimate

# scipy.stats (~0.5 s to import) is imported inside the functions that use it, so the callers that
# need only the helpers below (the monitor, `labelgate gate check`) start without it.

__all__ = [
    "PositionBias",
    "SliceReport",
    "TestResult",
    "bias_regression",
    "js_divergence",
    "kl_divergence",
    "label_divergence",
    "position_bias",
    "quantile_bins",
    "recall_gap",
    "self_preference",
    "slice_bias",
]


# ---------------------------------------------------------------- helpers
def _level(level) -> float:
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"level must be a number in (0, 1), got {level!r}")
    return float(level)


_Z95 = 1.959963984540054   # float(scipy.special.ndtri(0.975)), exactly


def _z(level: float) -> float:
    """The normal quantile of a two-sided `level` (scipy.stats.norm.ppf computes ndtri).

    >>> from scipy import stats
    >>> _z(0.95) == float(stats.norm.ppf(0.975)) and _z(0.9) == float(stats.norm.ppf(0.95))
    True
    """
    if level == 0.95:  # the usual level, without importing scipy (~0.25 s)
        return _Z95
    from scipy.special import ndtri

    return float(ndtri(0.5 + level / 2))


def _wilson(k, n, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Vectorized Wilson score bounds (NaN where n == 0)."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    z = _z(level)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = np.where(k == 0, 0.0, np.maximum(0.0, centre - half))
    hi = np.where(k == n, 1.0, np.minimum(1.0, centre + half))
    return np.where(n > 0, lo, np.nan), np.where(n > 0, hi, np.nan)


def _t_interval(mean, sd, n, level: float) -> tuple[np.ndarray, np.ndarray]:
    from scipy import stats

    mean, sd, n = (np.asarray(v, float) for v in (mean, sd, n))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = stats.t.ppf(0.5 + level / 2, np.maximum(n - 1, 1))
        half = t * sd / np.sqrt(n)
    half = np.where(n >= 2, half, np.nan)
    return mean - half, mean + half


def _objects(x, name: str) -> np.ndarray:
    a = np.asarray(x.to_numpy() if isinstance(x, (pd.Series, pd.Index)) else x, dtype=object)
    if a.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {a.shape}")
    return a


def _numeric_or_none(a: np.ndarray) -> np.ndarray | None:
    """Float view of an object array whose non-missing values are all numbers (strings are labels)."""
    if any(isinstance(v, (str, bytes)) for v in a):
        return None
    try:
        return a.astype(float)
    except (TypeError, ValueError):
        return None


def _missing(a: np.ndarray) -> np.ndarray:
    return pd.isna(pd.Series(a, dtype=object)).to_numpy()


@dataclass(frozen=True)
class TestResult:
    """A test of "no difference": ``statistic``, ``p_value``, ``method`` and degrees of freedom."""

    __test__ = False  # not a pytest class

    statistic: float
    p_value: float
    method: str
    df: float = float("nan")

    def to_dict(self) -> dict:
        """Plain dict (NaN becomes None)."""
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in self.__dict__.items()}


# ---------------------------------------------------------------- bins
def _fmt(v: float, digits: int) -> str:
    """A bin edge in plain digits (never "1.07e+03"): whole numbers exact, others to `digits` significant digits."""
    if float(v).is_integer():
        return f"{int(v):,}"
    r = float(f"{v:.{digits}g}")
    return f"{int(r):,}" if r.is_integer() else np.format_float_positional(r, trim="-")


def quantile_bins(x, *, q: int = 4, digits: int = 3) -> pd.Series:
    """Bin a numeric column into quantile intervals with readable labels.

    Parameters
    ----------
    x : array-like of float, shape (n,)
        Values; NaN is allowed and goes to the label ``"missing"``.
    q : int
        Number of quantile bins (fewer when quantiles coincide).
    digits : int
        Significant digits of the interval labels.

    Returns
    -------
    Series of ordered categorical, shape (n,)
        Labels like ``"[12, 40)"``; the last bin is closed, ``"[40, 95]"``.

    Examples
    --------
    >>> quantile_bins([1, 2, 3, 4, 5, 6, 7, 8], q=2).tolist()
    ['[1, 4.5)', '[1, 4.5)', '[1, 4.5)', '[1, 4.5)', '[4.5, 8]', '[4.5, 8]', '[4.5, 8]', '[4.5, 8]']
    >>> quantile_bins([12, 207, 1066, 2310], q=2).cat.categories.tolist()  # plain digits, never 1.07e+03
    ['[12, 636)', '[636, 2,310]']
    """
    v = _numeric_or_none(_objects(x, "x"))
    if v is None:
        raise ValueError("x must be numeric to be binned into quantiles")
    if isinstance(q, bool) or not isinstance(q, (int, np.integer)) or q < 1:
        raise ValueError(f"q must be a positive integer, got {q!r}")
    ok = ~np.isnan(v)
    if not ok.any():
        raise ValueError("x has no non-missing values")
    edges = np.unique(np.quantile(v[ok], np.linspace(0, 1, q + 1)))
    if edges.size == 1:
        edges = np.array([edges[0], edges[0]])
    idx = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, edges.size - 2)
    labels = [
        f"[{_fmt(edges[i], digits)}, {_fmt(edges[i + 1], digits)}{']' if i == edges.size - 2 else ')'}"
        for i in range(edges.size - 1)
    ]
    cats = labels + (["missing"] if (~ok).any() else [])
    out = np.where(ok, np.asarray(labels, dtype=object)[idx], "missing")
    return pd.Series(pd.Categorical(out, categories=cats, ordered=True), name="bin")


# ---------------------------------------------------------------- slices
@dataclass(frozen=True)
class SliceReport:
    """Per-slice bias table and the tests of whether slices differ.

    Attributes
    ----------
    table : DataFrame
        One row per slice: ``slice``, ``n``, ``mean_signed_error``, ``error_ci_low``,
        ``error_ci_high`` (t-interval), ``agreement``, ``agreement_ci_low``,
        ``agreement_ci_high`` (Wilson).
    error_test : TestResult or None
        Kruskal-Wallis (default) or one-way ANOVA on the signed errors; None for non-numeric labels.
    agreement_test : TestResult
        Chi-square test of independence of slice and agreement.
    """

    table: pd.DataFrame
    error_test: TestResult | None
    agreement_test: TestResult


def slice_bias(
    y_llm,
    y_human,
    slices,
    *,
    bins: int | None = None,
    tolerance: float = 0.0,
    error_test: str = "kruskal",
    level: float = 0.95,
) -> SliceReport:
    """Signed error and agreement of a labeler per slice of the items.

    Parameters
    ----------
    y_llm, y_human : array-like, shape (n,)
        Labels. Numeric labels give signed errors; other labels (categories, pairwise verdicts)
        give agreement only. Items where either is missing are dropped.
    slices : array-like, shape (n,)
        Slice of every item (category; None/NaN become ``"missing"``), or a numeric column when
        ``bins`` is given.
    bins : int, optional
        Bin a numeric ``slices`` into this many quantile bins (:func:`quantile_bins`).
    tolerance : float
        Numeric labels agree when ``|y_llm - y_human| <= tolerance``.
    error_test : {"kruskal", "anova"}
        Test of equal signed error across slices.
    level : float

    Returns
    -------
    SliceReport

    Examples
    --------
    >>> r = slice_bias([3, 4, 5, 5, 2, 3], [3, 4, 4, 4, 2, 3], ["s", "s", "l", "l", "s", "s"])
    >>> r.table[["slice", "n", "mean_signed_error", "agreement"]].to_dict("records")
    [{'slice': 'l', 'n': 2, 'mean_signed_error': 1.0, 'agreement': 0.0}, {'slice': 's', 'n': 4, \
'mean_signed_error': 0.0, 'agreement': 1.0}]
    """
    from scipy import stats

    level = _level(level)
    a, b, s = _objects(y_llm, "y_llm"), _objects(y_human, "y_human"), _objects(slices, "slices")
    if not (a.size == b.size == s.size):
        raise ValueError(f"y_llm, y_human and slices must have the same length, got {a.size}, {b.size}, {s.size}")
    if bins is not None:
        cat = quantile_bins(s, q=bins)
    else:
        cat = pd.Series(np.where(_missing(s), "missing", s), dtype=object)
    keep = ~(_missing(a) | _missing(b))
    a, b, cat = a[keep], b[keep], cat[keep].reset_index(drop=True)
    if a.size == 0:
        raise ValueError("no items with both labels")
    if error_test not in ("kruskal", "anova"):
        raise ValueError(f"error_test must be 'kruskal' or 'anova', got {error_test!r}")
    an, bn = _numeric_or_none(a), _numeric_or_none(b)
    numeric = an is not None and bn is not None
    if numeric:
        err = an - bn
        agree = np.abs(err) <= tolerance
    else:
        err = np.full(a.size, np.nan)
        agree = a == b
    # slice order: bin order for binned numeric slices, sorted otherwise
    if isinstance(cat.dtype, pd.CategoricalDtype):
        cat = cat.cat.remove_unused_categories()
        codes, names = cat.cat.codes.to_numpy(), list(cat.cat.categories)
    else:
        codes, names = pd.factorize(cat, sort=True)
    H = len(names)
    n = np.bincount(codes, minlength=H)
    k = np.bincount(codes, weights=agree.astype(float), minlength=H)
    lo_a, hi_a = _wilson(k, n, level)
    table = pd.DataFrame({"slice": list(names), "n": n.astype(int)})
    if numeric:
        m = np.bincount(codes, weights=err, minlength=H) / n
        ss = np.bincount(codes, weights=(err - m[codes]) ** 2, minlength=H)
        with np.errstate(divide="ignore", invalid="ignore"):
            sd = np.sqrt(ss / np.maximum(n - 1, 1))
        lo_e, hi_e = _t_interval(m, sd, n, level)
    else:
        m = lo_e = hi_e = np.full(H, np.nan)
    table["mean_signed_error"] = m
    table["error_ci_low"], table["error_ci_high"] = lo_e, hi_e
    table["agreement"] = k / n
    table["agreement_ci_low"], table["agreement_ci_high"] = lo_a, hi_a
    etest = None
    if numeric:
        groups = [err[codes == h] for h in range(H)]
        if H < 2:
            etest = TestResult(float("nan"), float("nan"), error_test)
        elif error_test == "kruskal":
            if np.ptp(err) == 0:
                etest = TestResult(0.0, 1.0, "kruskal-wallis", df=float(H - 1))
            else:
                r = stats.kruskal(*groups)
                etest = TestResult(float(r.statistic), float(r.pvalue), "kruskal-wallis", df=float(H - 1))
        else:
            big = [g for g in groups if g.size > 0]
            r = stats.f_oneway(*big)
            etest = TestResult(float(r.statistic), float(r.pvalue), "one-way anova", df=float(len(big) - 1))
    cont = np.column_stack([k, n - k])
    cont = cont[:, cont.sum(axis=0) > 0]
    if H < 2 or cont.shape[1] < 2:
        atest = (
            TestResult(0.0, 1.0, "chi-square", df=0.0)
            if H >= 2
            else TestResult(float("nan"), float("nan"), "chi-square")
        )
    else:
        r = stats.chi2_contingency(cont, correction=False)
        atest = TestResult(float(r.statistic), float(r.pvalue), "chi-square", df=float(r.dof))
    return SliceReport(table=table, error_test=etest, agreement_test=atest)


# ---------------------------------------------------------------- regression
def _design_matrix(X: pd.DataFrame, categorical) -> tuple[np.ndarray, list[str]]:
    if not isinstance(X, pd.DataFrame):
        raise ValueError("X must be a pandas DataFrame of item features")
    if categorical is None:
        categorical = [
            c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c])
        ]
    missing = [c for c in categorical if c not in X.columns]
    if missing:
        raise ValueError(f"categorical columns not found in X: {missing}")
    cols, names = [np.ones(len(X))], ["intercept"]
    for c in X.columns:
        if c in categorical:
            v = X[c].astype(object).where(X[c].notna(), "missing").astype(str).to_numpy()
            levels = sorted(set(v.tolist()))
            for lev in levels[1:]:
                cols.append((v == lev).astype(float))
                names.append(f"{c}={lev}")
        else:
            v = pd.to_numeric(X[c], errors="coerce").to_numpy(dtype=float)
            if np.isnan(v).any():
                raise ValueError(f"numeric column {c!r} contains NaN or non-numbers")
            cols.append(v)
            names.append(str(c))
    return np.column_stack(cols), names


def bias_regression(y_llm, y_human, X, *, categorical=None, level: float = 0.95) -> pd.DataFrame:
    """OLS of the signed error ``y_llm - y_human`` on item features, with HC3 robust errors.

    Parameters
    ----------
    y_llm, y_human : array-like of float, shape (n,)
    X : DataFrame, shape (n, n_columns)
        Features. Numeric columns enter linearly; categorical ones (default: non-numeric and bool)
        are one-hot coded against their first sorted level (None/NaN as ``"missing"``).
    categorical : list of str, optional
    level : float

    Returns
    -------
    DataFrame
        One row per term (``intercept`` first): ``term``, ``coef``, ``se`` (HC3:
        ``(X'X)^-1 X' diag(e_i^2 / (1 - h_ii)^2) X (X'X)^-1``), ``ci_low``, ``ci_high``,
        ``t``, ``p_value`` (Student t with ``n - p`` degrees of freedom).

    Examples
    --------
    >>> X = pd.DataFrame({"long": [0, 0, 0, 1, 1, 1, 0, 1]})
    >>> human = np.array([3, 4, 2, 3, 4, 2, 5, 5])
    >>> llm = human + X["long"] + np.array([0.1, -0.1, 0, 0.1, -0.1, 0, 0, 0])
    >>> bias_regression(llm, human, X).round(3)[["term", "coef"]].to_dict("list")
    {'term': ['intercept', 'long'], 'coef': [0.0, 1.0]}
    """
    from scipy import stats

    level = _level(level)
    a, b = _objects(y_llm, "y_llm"), _objects(y_human, "y_human")
    an, bn = _numeric_or_none(a), _numeric_or_none(b)
    if an is None or bn is None:
        raise ValueError("y_llm and y_human must be numeric")
    if an.size != bn.size:
        raise ValueError(f"y_llm and y_human must have the same length, got {an.size} and {bn.size}")
    if np.isnan(an).any() or np.isnan(bn).any():
        raise ValueError("y_llm and y_human must not contain NaN")
    if isinstance(X, pd.DataFrame) and len(X) != an.size:
        raise ValueError(f"X must have one row per item ({an.size}), got {len(X)}")
    D, names = _design_matrix(X.reset_index(drop=True) if isinstance(X, pd.DataFrame) else X, categorical)
    n, p = D.shape
    if n <= p:
        raise ValueError(f"need more items ({n}) than coefficients ({p})")
    if np.linalg.matrix_rank(D) < p:
        raise ValueError("the design matrix is rank-deficient (a constant or duplicated feature)")
    e = an - bn
    XtX_inv = np.linalg.inv(D.T @ D)
    coef = XtX_inv @ D.T @ e
    resid = e - D @ coef
    h = np.einsum("ij,jk,ik->i", D, XtX_inv, D)
    with np.errstate(divide="ignore", invalid="ignore"):
        omega = resid**2 / (1 - h) ** 2
    omega = np.where(h >= 1 - 1e-12, 0.0, omega)
    meat = (D * omega[:, None]).T @ D
    cov = XtX_inv @ meat @ XtX_inv
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    tcrit = float(stats.t.ppf(0.5 + level / 2, n - p))
    with np.errstate(divide="ignore", invalid="ignore"):
        tval = coef / se
    pval = 2 * stats.t.sf(np.abs(tval), n - p)
    return pd.DataFrame(
        {
            "term": names,
            "coef": coef,
            "se": se,
            "ci_low": coef - tcrit * se,
            "ci_high": coef + tcrit * se,
            "t": tval,
            "p_value": pval,
        }
    )


# ---------------------------------------------------------------- self-preference
def _two_groups(values, group, name: str) -> tuple[np.ndarray, np.ndarray]:
    v = _numeric_or_none(_objects(values, name))
    g = _objects(group, "same_family")
    if v is None:
        raise ValueError(f"{name} must be numeric")
    if v.size != g.size:
        raise ValueError(f"{name} and same_family must have the same length, got {v.size} and {g.size}")
    if np.isnan(v).any() or _missing(g).any():
        raise ValueError(f"{name} and same_family must not contain missing values")
    if not np.isin(g, [True, False, 0, 1]).all():
        raise ValueError("same_family must be boolean")
    g = g.astype(bool)
    return v[g], v[~g]


def self_preference(values, same_family, *, kind: str = "mean", level: float = 0.95) -> Estimate:
    """Effect of the item's source model family on the labeler: same-family minus other-family.

    Parameters
    ----------
    values : array-like of float, shape (n,)
        Per judgment: the labeler's signed error (``kind="mean"``), or whether the labeler picked
        the output in question, e.g. a win (0/1, ``kind="proportion"``).
    same_family : array-like of bool, shape (n,)
        Whether the judged output was written by a model of the labeler's own family.
    kind : {"mean", "proportion"}
        ``"mean"``: difference in means with a Welch t-interval. ``"proportion"``: difference in
        rates (e.g. win rate) with Newcombe's hybrid score interval (from the two Wilson
        intervals).
    level : float

    Returns
    -------
    Estimate
        Positive: the labeler rates (or picks) its own family's outputs higher. ``n`` is the
        number of judgments.

    Examples
    --------
    >>> e = self_preference([1, 1, 1, 0, 1, 0, 0, 0], [1, 1, 1, 1, 0, 0, 0, 0], kind="proportion")
    >>> e.estimate, e.method
    (0.5, 'newcombe difference of proportions')
    """
    from scipy import stats

    level = _level(level)
    x1, x0 = _two_groups(values, same_family, "values")
    if x1.size == 0 or x0.size == 0:
        raise ValueError("need judgments of both same-family and other-family outputs")
    n = x1.size + x0.size
    if kind == "mean":
        d = float(x1.mean() - x0.mean())
        if x1.size < 2 or x0.size < 2:
            return Estimate(d, float("nan"), float("nan"), n=n, method="welch t difference of means", level=level)
        v1, v0 = x1.var(ddof=1) / x1.size, x0.var(ddof=1) / x0.size
        se = math.sqrt(v1 + v0)
        if se == 0:
            return Estimate(d, d, d, n=n, method="welch t difference of means", level=level)
        dof = (v1 + v0) ** 2 / (v1**2 / (x1.size - 1) + v0**2 / (x0.size - 1))
        t = float(stats.t.ppf(0.5 + level / 2, dof))
        return Estimate(d, d - t * se, d + t * se, n=n, method="welch t difference of means", level=level)
    if kind == "proportion":
        if not np.isin(np.r_[x1, x0], [0, 1]).all():
            raise ValueError("values must be 0/1 for kind='proportion'")
        k1, k0 = x1.sum(), x0.sum()
        p1, p0 = k1 / x1.size, k0 / x0.size
        (l1, u1), (l0, u0) = (tuple(map(float, _wilson(k, m, level))) for k, m in ((k1, x1.size), (k0, x0.size)))
        d = float(p1 - p0)
        lo = d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
        hi = d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
        return Estimate(d, lo, hi, n=n, method="newcombe difference of proportions", level=level)
    raise ValueError(f"kind must be 'mean' or 'proportion', got {kind!r}")


# ---------------------------------------------------------------- position bias
@dataclass(frozen=True)
class PositionBias:
    """Order effects in pairwise judgments.

    Attributes
    ----------
    flip_rate : Estimate
        Share of items whose verdict changes when the two outputs swap places (Wilson interval),
        over items with a valid verdict in both orders.
    first_position_rate : Estimate
        Share of valid verdicts (both orders pooled) that pick the output shown first; 0.5 means
        no position preference. Interval: normal approximation of a ratio estimator clustered by
        item (the two verdicts of one item are not independent), clipped to [0, 1].
    n_items : int
        Items with at least one valid verdict.
    """

    flip_rate: Estimate
    first_position_rate: Estimate
    n_items: int


def position_bias(verdict_ab, verdict_ba, *, first=1, second=2, level: float = 0.95) -> PositionBias:
    """Position bias of a pairwise judge given its verdict in both presentation orders.

    Parameters
    ----------
    verdict_ab : array-like, shape (n,)
        Verdict with output ``first`` shown first (e.g. LLMBar ``winner_order_12``).
    verdict_ba : array-like, shape (n,)
        Verdict with the outputs swapped, already mapped back to the original names (e.g.
        ``winner_order_21``), so an unbiased, consistent judge gives the same value in both.
    first, second : object
        The values naming the two outputs. Any other non-missing value (e.g. ``"tie"``) is a valid
        verdict that picks neither; None, NaN and ``""`` are missing (unparsable answers).
    level : float

    Returns
    -------
    PositionBias

    Examples
    --------
    >>> pb = position_bias([1, 1, 1, 2], [1, 2, 2, 2])
    >>> pb.flip_rate.estimate, pb.first_position_rate.estimate
    (0.5, 0.75)
    """
    level = _level(level)
    ab, ba = _objects(verdict_ab, "verdict_ab"), _objects(verdict_ba, "verdict_ba")
    if ab.size != ba.size:
        raise ValueError(f"verdict_ab and verdict_ba must have the same length, got {ab.size} and {ba.size}")
    va = ~(_missing(ab) | (ab == ""))
    vb = ~(_missing(ba) | (ba == ""))
    both = va & vb
    nb = int(both.sum())
    if not (va | vb).any():
        raise ValueError("no valid verdicts")
    flips = int((ab[both] != ba[both]).sum())
    if nb:
        lo, hi = _wilson(flips, nb, level)
        flip = Estimate(flips / nb, float(lo), float(hi), n=nb, method="wilson", level=level)
    else:
        flip = Estimate(float("nan"), float("nan"), float("nan"), n=0, method="wilson", level=level)
    s = (va & (ab == first)).astype(float) + (vb & (ba == second)).astype(float)
    m = va.astype(float) + vb.astype(float)
    use = m > 0
    s, m = s[use], m[use]
    k = s.size
    R = float(s.sum() / m.sum())
    if k >= 2:
        var = k / (k - 1) * float(((s - R * m) ** 2).sum()) / float(m.sum()) ** 2
        half = _z(level) * math.sqrt(var)
        lo, hi = max(0.0, R - half), min(1.0, R + half)
    else:
        lo = hi = float("nan")
    first_rate = Estimate(R, lo, hi, n=int(k), method="clustered ratio (normal)", level=level)
    return PositionBias(flip_rate=flip, first_position_rate=first_rate, n_items=int(k))


# ---------------------------------------------------------------- distributions
def _distributions(p, q, smoothing: float) -> tuple[np.ndarray, np.ndarray, bool]:
    P, Q = (np.asarray(v.to_numpy() if isinstance(v, (pd.Series, pd.DataFrame)) else v, dtype=float) for v in (p, q))
    one = P.ndim == 1 and Q.ndim == 1
    P, Q = np.atleast_2d(P), np.atleast_2d(Q)
    if P.ndim != 2 or Q.ndim != 2 or P.shape[1] != Q.shape[1]:
        raise ValueError(f"p and q must have the same number of labels, got shapes {P.shape} and {Q.shape}")
    if P.shape[1] == 0:
        raise ValueError("p and q are empty")
    if np.isnan(P).any() or np.isnan(Q).any():
        raise ValueError("p and q must not contain NaN")
    if np.any(P < 0) or np.any(Q < 0):
        raise ValueError("p and q must be non-negative counts or probabilities")
    if smoothing < 0:
        raise ValueError(f"smoothing must be >= 0, got {smoothing}")
    P, Q = P + smoothing, Q + smoothing
    sp, sq = P.sum(1, keepdims=True), Q.sum(1, keepdims=True)
    if np.any(sp == 0) or np.any(sq == 0):
        raise ValueError("every distribution needs a positive total")
    return P / sp, Q / sq, one


def kl_divergence(p, q, *, smoothing: float = 0.0, base: float = 2.0):
    """Kullback-Leibler divergence ``KL(p || q)``.

    Parameters
    ----------
    p, q : array-like, shape (n_labels,) or (n_batches, n_labels)
        Counts or probabilities over the same labels in the same order (rows are normalized after
        adding ``smoothing`` to every cell). 2-D inputs broadcast row-wise (a single row against
        many is allowed).
    smoothing : float
        Pseudo-count added to every cell (e.g. 0.5); with 0, a label that ``p`` has and ``q`` lacks
        gives ``inf``.
    base : float
        Logarithm base (2: bits).

    Returns
    -------
    float, or ndarray of shape (n_batches,)

    Examples
    --------
    >>> round(kl_divergence([1, 1], [1, 3]), 4)
    0.2075
    """
    P, Q, one = _distributions(p, q, smoothing)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(P > 0, P * (np.log(P) - np.log(Q)), 0.0)
    out = terms.sum(axis=1) / math.log(base)
    return float(out[0]) if one else out


def js_divergence(p, q, *, smoothing: float = 0.0, base: float = 2.0):
    """Jensen-Shannon divergence (the square of SciPy's Jensen-Shannon distance).

    ``JS = (KL(p || m) + KL(q || m)) / 2`` with ``m = (p + q) / 2``; in [0, 1] for base 2.

    Parameters
    ----------
    p, q : array-like, shape (n_labels,) or (n_batches, n_labels)
        As in :func:`kl_divergence`.
    smoothing : float
    base : float

    Returns
    -------
    float, or ndarray of shape (n_batches,)

    Examples
    --------
    >>> js_divergence([1, 0], [0, 1])
    1.0
    """
    P, Q, one = _distributions(p, q, smoothing)
    P, Q = np.broadcast_arrays(P, Q)
    M = (P + Q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kp = np.where(P > 0, P * (np.log(P) - np.log(M)), 0.0).sum(1)
        kq = np.where(Q > 0, Q * (np.log(Q) - np.log(M)), 0.0).sum(1)
    out = np.maximum((kp + kq) / 2 / math.log(base), 0.0)
    return float(out[0]) if one else out


def label_divergence(llm_labels, human_labels, *, labels=None, smoothing: float = 0.5, base: float = 2.0) -> dict:
    """Divergence of a labeler's label distribution from the human one.

    Parameters
    ----------
    llm_labels, human_labels : array-like, shape (n,) and (m,)
        Labels (missing ones dropped); they need not be on the same items.
    labels : sequence, optional
        Label set and order; default: sorted union.
    smoothing : float
        Pseudo-count per label (default 0.5) so KL stays finite.
    base : float

    Returns
    -------
    dict
        ``kl`` (= KL(llm || human)), ``js``, and ``llm_share`` / ``human_share`` (Series by label,
        unsmoothed).

    Examples
    --------
    >>> d = label_divergence(["a", "a", "b"], ["a", "b", "b"], smoothing=0)
    >>> round(d["js"], 4)
    0.0817
    """
    a = _objects(llm_labels, "llm_labels")
    b = _objects(human_labels, "human_labels")
    a, b = a[~_missing(a)], b[~_missing(b)]
    if a.size == 0 or b.size == 0:
        raise ValueError("llm_labels and human_labels need at least one non-missing label each")
    labs = sorted(set(a.tolist()) | set(b.tolist()), key=str) if labels is None else list(labels)
    ca = pd.Series(a).value_counts().reindex(labs, fill_value=0)
    cb = pd.Series(b).value_counts().reindex(labs, fill_value=0)
    if ca.sum() < a.size or cb.sum() < b.size:
        raise ValueError(f"labels outside the given label set {labs}")
    return {
        "kl": kl_divergence(ca.to_numpy(), cb.to_numpy(), smoothing=smoothing, base=base),
        "js": js_divergence(ca.to_numpy(), cb.to_numpy(), smoothing=smoothing, base=base),
        "llm_share": ca / ca.sum(),
        "human_share": cb / cb.sum(),
    }


# ---------------------------------------------------------------- recall gap
def recall_gap(y_human, y_llm, *, labels=None, collapse_ratio: float = 0.5, level: float = 0.95) -> pd.DataFrame:
    """Per-class recall of the labeler against human consensus, with a minority-collapse flag.

    Parameters
    ----------
    y_human : array-like, shape (n,)
        Human consensus label per item.
    y_llm : array-like, shape (n,)
        Labeler's label per item. Items with a missing label on either side are dropped.
    labels : sequence, optional
        Classes and order; default: sorted union.
    collapse_ratio : float
        A class is flagged ``collapsed`` when it is a minority class (human share below
        ``1 / n_classes``) and the labeler uses it at less than ``collapse_ratio`` times its human
        share.
    level : float

    Returns
    -------
    DataFrame
        One row per class: ``label``, ``n_human``, ``human_share``, ``llm_share``, ``share_ratio``
        (llm / human), ``recall`` with Wilson ``recall_ci_low`` / ``recall_ci_high``,
        ``recall_gap`` (recall minus the macro-average recall), ``collapsed``.

    Examples
    --------
    >>> t = recall_gap(["a"] * 8 + ["b"] * 2, ["a"] * 8 + ["a", "b"])
    >>> t[["label", "recall", "share_ratio", "collapsed"]].to_dict("records")
    [{'label': 'a', 'recall': 1.0, 'share_ratio': 1.125, 'collapsed': False}, {'label': 'b', \
'recall': 0.5, 'share_ratio': 0.5, 'collapsed': False}]
    """
    level = _level(level)
    h, m = _objects(y_human, "y_human"), _objects(y_llm, "y_llm")
    if h.size != m.size:
        raise ValueError(f"y_human and y_llm must have the same length, got {h.size} and {m.size}")
    keep = ~(_missing(h) | _missing(m))
    h, m = h[keep], m[keep]
    if h.size == 0:
        raise ValueError("no items with both labels")
    labs = sorted(set(h.tolist()) | set(m.tolist()), key=str) if labels is None else list(labels)
    if len(labs) < 2:
        raise ValueError("need at least two classes (only one class present)")
    pos = {lab: i for i, lab in enumerate(labs)}
    if not set(h.tolist()) | set(m.tolist()) <= set(pos):
        raise ValueError(f"labels outside the given label set {labs}")
    K = len(labs)
    hi = np.fromiter((pos[v] for v in h), np.int64, h.size)
    mi = np.fromiter((pos[v] for v in m), np.int64, m.size)
    nh = np.bincount(hi, minlength=K)
    nm = np.bincount(mi, minlength=K)
    tp = np.bincount(hi[hi == mi], minlength=K)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(nh > 0, tp / nh, np.nan)
        ratio = np.where(nh > 0, nm / nh, np.nan)
    lo, up = _wilson(tp, nh, level)
    hs, ms = nh / h.size, nm / m.size
    return pd.DataFrame(
        {
            "label": labs,
            "n_human": nh,
            "human_share": hs,
            "llm_share": ms,
            "share_ratio": ratio,
            "recall": recall,
            "recall_ci_low": lo,
            "recall_ci_high": up,
            "recall_gap": recall - np.nanmean(recall),
            "collapsed": (hs < 1 / K) & (nh > 0) & (ratio < collapse_ratio),
        }
    )
