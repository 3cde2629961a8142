"""Confidence intervals: a vectorized percentile bootstrap for the agreement metrics, and Wilson.

The bootstrap draws ONE resample-index matrix of shape (B, n) -- items, or groups for a
cluster bootstrap -- from the seeded generator, row block by row block so that a block
never exceeds ``_CHUNK_BYTES`` (the rows drawn do not depend on the block size). Each
block becomes a matrix of resampling weights W (b, n): how many times each item is drawn.
Every built-in metric is a weighted statistic of W:

- confusion-matrix metrics (accuracy, kappas, AC1, macro F1, two-rater alpha): the b
  confusion matrices at once, ``np.bincount(b*K*K + i*K + j, weights=W)``;
- moment metrics (Pearson, MAE, RMSE, mean signed error): ``W @ x``-style products;
- Spearman: weighted mid-ranks from one global sort, then weighted Pearson;
- Kendall tau and any user callable: a generic (slower) loop over resamples.

``METRICS`` maps a name to its point function ``f(y_true, y_pred, *, labels=None)`` and
``BATCHED_METRICS`` a name to its batched function ``f(y_true, y_pred, weights, *,
labels=None) -> (b,)`` (the weighted statistic of each row of ``weights``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from qc import agreement as ag
from qc.estimate import Estimate, GroupedEstimate
from qc.krippendorff import _alpha_from_cm, krippendorff_alpha

__all__ = ["bootstrap_ci", "bootstrap_cis", "wilson_interval", "METRICS", "BATCHED_METRICS",
           "bootstrap_distribution"]

_CHUNK_BYTES = 64 * 2**20


# ------------------------------------------------------------------------ point metrics


def _alpha_point(level: str):
    def point(y_true, y_pred, *, labels=None):
        a, b = ag._categorical_pair(y_true, y_pred)
        if level in ("interval", "ratio"):
            a, b = ag._numeric_pair(a, b)
        return krippendorff_alpha(np.vstack([a, b]), level=level, value_domain=labels)

    point.__doc__ = f"Krippendorff's alpha ({level}) of two raters without missing data."
    return point


def _with_labels(fn, **kw):
    def point(y_true, y_pred, *, labels=None):
        return fn(y_true, y_pred, labels=labels, **kw)

    point.__doc__ = fn.__doc__
    return point


def _without_labels(fn):
    def point(y_true, y_pred, *, labels=None):
        return fn(y_true, y_pred)

    point.__doc__ = fn.__doc__
    return point


METRICS: dict[str, Callable[..., float]] = {
    "accuracy": _without_labels(ag.accuracy_score),
    "cohen_kappa": _with_labels(ag.cohen_kappa_score),
    "linear_kappa": _with_labels(ag.cohen_kappa_score, weights="linear"),
    "quadratic_kappa": _with_labels(ag.cohen_kappa_score, weights="quadratic"),
    "gwet_ac1": _with_labels(ag.gwet_ac1_score),
    "macro_f1": _with_labels(ag.macro_f1_score),
    "krippendorff_alpha": _alpha_point("nominal"),
    "krippendorff_alpha_nominal": _alpha_point("nominal"),
    "krippendorff_alpha_ordinal": _alpha_point("ordinal"),
    "krippendorff_alpha_interval": _alpha_point("interval"),
    "krippendorff_alpha_ratio": _alpha_point("ratio"),
    "pearson": _without_labels(ag.pearson_score),
    "spearman": _without_labels(ag.spearman_score),
    "kendall_tau": _without_labels(ag.kendall_tau_score),
    "mae": _without_labels(ag.mean_absolute_error),
    "rmse": _without_labels(ag.root_mean_squared_error),
    "mean_signed_error": _without_labels(ag.mean_signed_error),
}
"""Metric name -> point function ``f(y_true, y_pred, *, labels=None) -> float``."""


# ---------------------------------------------------------------------- batched metrics


@dataclass(frozen=True)
class _Batched:
    """A metric computed for a batch of resampling-weight rows at once.

    ``prepare(y_true, y_pred, labels)`` validates and encodes the data once;
    ``compute(state, W)`` maps weights (b, n) to b metric values (NaN where undefined).
    """

    prepare: Callable
    compute: Callable
    kind: str
    from_cm: Callable | None = None  # (state, (b, K, K) confusion matrices) -> (b,)

    def __call__(self, y_true, y_pred, weights, *, labels=None) -> np.ndarray:
        state = self.prepare(y_true, y_pred, labels)
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim == 1:
            w = w[None, :]
        if w.ndim != 2 or w.shape[1] != state["n"]:
            raise ValueError(f"weights must have shape (b, {state['n']}), got {np.shape(weights)}")
        if (w < 0).any():
            raise ValueError("weights must be non-negative")
        return self.compute(state, w)


def _prep_categorical(y_true, y_pred, labels):
    ct, cp, lab = ag._encode_pair(y_true, y_pred, labels)
    k = len(lab)
    return {"cell": ct * k + cp, "k": k, "labels": lab, "n": len(ct)}


def _prep_categorical_numeric(y_true, y_pred, labels):
    state = _prep_categorical(y_true, y_pred, labels)
    try:
        state["values"] = np.asarray(state["labels"], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError("interval/ratio alpha needs numeric labels") from exc
    return state


def _confusions(state, w: np.ndarray) -> np.ndarray:
    """(b, K, K) weighted confusion matrices: one bincount over b*K*K + i*K + j."""
    b = w.shape[0]
    kk = state["k"] ** 2
    key = np.arange(b, dtype=np.int64)[:, None] * kk + state["cell"][None, :]
    return np.bincount(key.ravel(), weights=w.ravel(), minlength=b * kk).reshape(b, state["k"], state["k"])


def _cm_metric(formula, prepare=_prep_categorical) -> _Batched:
    return _Batched(prepare, lambda state, w: formula(state, _confusions(state, w)), "categorical", formula)


def _prep_numeric(y_true, y_pred, labels):
    a, b = ag._numeric_pair(y_true, y_pred)
    return {"x": a, "y": b, "n": len(a)}


def _centred(x: np.ndarray, w: np.ndarray, sw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One variable's side of a weighted Pearson correlation: (x minus its weighted mean per row, the
    weighted sum of squares per row); x is (n,) or (b, n). Two-pass (centred) moments, so the result
    matches the unweighted formula on the expanded sample."""
    mx = (w @ x) / sw if x.ndim == 1 else np.einsum("bn,bn->b", w, x) / sw
    xc = x - mx[:, None]
    return xc, np.einsum("bn,bn->b", w, xc * xc)


def _weighted_pearson(xs: tuple, ys: tuple, w: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Weighted Pearson correlation for each weight row from both variables' `_centred` sides.

    ``ok`` (b,) marks the rows where neither variable is constant (else NaN).
    """
    (xc, sxx), (yc, syy) = xs, ys
    sxy = np.einsum("bn,bn->b", w, xc * yc)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = sxy / np.sqrt(sxx * syy)
    return np.where(ok, np.clip(r, -1.0, 1.0), np.nan)


def _memo(state, var: str, w: np.ndarray, name: str, make):
    """`make()` computed once per weight block w for variable state[var], kept in state.

    Pearson and Spearman of one pair of variables need the same per-value weights, ranks and centred
    moments for the same block; bootstrap_cis shares one state between them, and with a `cache` it
    shares the reference variable's memo between calls (e.g. every labeler against one gold), so these
    (b, n) passes are made once per block. The memo holds w itself, so an identity check cannot
    mistake a new block for an old one.
    """
    memo = state.setdefault("_memo", {}).setdefault(var, {})
    if memo.get("_w") is not w:
        memo.clear()
        memo["_w"] = w
    if name not in memo:
        memo[name] = make()
    return memo[name]


def _value_weights(state, var: str, w: np.ndarray) -> dict:
    """The weight on each distinct value of state[var] in each row of w (memoized per block)."""
    return _memo(state, var, w, "values", lambda: _make_value_weights(state, var, w))


def _make_value_weights(state, var: str, w: np.ndarray) -> dict:
    if ("_inv", var) not in state:  # the values' codes do not depend on w
        uniq, inv = np.unique(state[var], return_inverse=True)
        state[("_inv", var)] = (len(uniq), inv)
    u, inv = state[("_inv", var)]
    b = w.shape[0]
    key = np.arange(b, dtype=np.int64)[:, None] * u + inv[None, :]
    wv = np.bincount(key.ravel(), weights=w.ravel(), minlength=b * u).reshape(b, u)
    # a value is present in a row iff its summed (non-negative) weight is positive: a variable
    # varies in a row iff more than one of its values is present (else the correlation is NaN)
    return {"inv": inv, "wv": wv, "varies": (wv > 0).sum(axis=1) > 1}


def _ranks_from(entry: dict) -> np.ndarray:
    """Mid-ranks (b, n) of each item in the sample that repeats item i w[b, i] times."""
    wv = entry["wv"]
    below = np.cumsum(wv, axis=1) - wv
    return (below + (wv + 1.0) / 2.0)[:, entry["inv"]]


def _row_sums(state, w: np.ndarray) -> np.ndarray:
    return _memo(state, "x", w, "sw", lambda: w.sum(axis=1))


def _pearson_batched(state, w):
    vx, vy = _value_weights(state, "x", w), _value_weights(state, "y", w)
    sw = _row_sums(state, w)
    xs = _memo(state, "x", w, "centred", lambda: _centred(state["x"], w, sw))
    ys = _memo(state, "y", w, "centred", lambda: _centred(state["y"], w, sw))
    return _weighted_pearson(xs, ys, w, vx["varies"] & vy["varies"])


def _spearman_batched(state, w):
    vx, vy = _value_weights(state, "x", w), _value_weights(state, "y", w)
    sw = _row_sums(state, w)
    xs = _memo(state, "x", w, "rank_centred", lambda: _centred(_ranks_from(vx), w, sw))
    ys = _memo(state, "y", w, "rank_centred", lambda: _centred(_ranks_from(vy), w, sw))
    return _weighted_pearson(xs, ys, w, vx["varies"] & vy["varies"])


def _moment(fn) -> _Batched:
    return _Batched(_prep_numeric, fn, "moment")


def _mae(state, w):
    return (w @ np.abs(state["y"] - state["x"])) / w.sum(axis=1)


def _rmse(state, w):
    return np.sqrt((w @ (state["y"] - state["x"]) ** 2) / w.sum(axis=1))


def _mse(state, w):
    return (w @ (state["y"] - state["x"])) / w.sum(axis=1)


def _alpha_batched(level: str) -> _Batched:
    prep = _prep_categorical_numeric if level in ("interval", "ratio") else _prep_categorical
    return _cm_metric(lambda s, cm: _alpha_from_cm(cm, s.get("values"), level), prep)


def _kappa_batched(weights) -> _Batched:
    return _cm_metric(lambda s, cm: ag._kappa_from_cm(cm, ag._weight_matrix(s["k"], weights)))


def _prep_table(y_true, y_pred, labels):
    a, b = ag._numeric_pair(y_true, y_pred)
    ux, ix = np.unique(a, return_inverse=True)
    uy, iy = np.unique(b, return_inverse=True)
    kx, ky = len(ux), len(uy)
    return {"cell": ix * ky + iy, "kx": kx, "ky": ky, "k": int(math.ceil(math.sqrt(kx * ky))), "n": len(a)}


def _kendall_from_tables(T: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of each (b, kx, ky) table of counts (rows: sorted x values, columns: sorted y).

    Concordant pairs: cell (i, j) times every cell strictly below-right; discordant: times every
    cell strictly below-left. Ties come from the row and column totals, as in scipy's tau-b.
    """
    below = np.cumsum(T[:, ::-1, :], axis=1)[:, ::-1, :]           # rows >= i
    below = np.concatenate([below[:, 1:, :], np.zeros_like(below[:, :1, :])], axis=1)  # rows > i
    right = np.cumsum(below[:, :, ::-1], axis=2)[:, :, ::-1]        # rows > i, cols >= j
    right = np.concatenate([right[:, :, 1:], np.zeros_like(right[:, :, :1])], axis=2)  # cols > j
    left = np.cumsum(below, axis=2)                                 # rows > i, cols <= j
    left = np.concatenate([np.zeros_like(left[:, :, :1]), left[:, :, :-1]], axis=2)    # cols < j
    con = (T * right).sum(axis=(1, 2))
    dis = (T * left).sum(axis=(1, 2))
    n = T.sum(axis=(1, 2))
    rows, cols = T.sum(axis=2), T.sum(axis=1)
    n0 = n * (n - 1) / 2
    n1 = (rows * (rows - 1) / 2).sum(axis=1)
    n2 = (cols * (cols - 1) / 2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        tau = (con - dis) / np.sqrt((n0 - n1) * (n0 - n2))
    return np.where((n0 - n1 > 0) & (n0 - n2 > 0), np.clip(tau, -1.0, 1.0), np.nan)


def _kendall_batched(state, w):
    b = w.shape[0]
    kk = state["kx"] * state["ky"]
    key = np.arange(b, dtype=np.int64)[:, None] * kk + state["cell"][None, :]
    T = np.bincount(key.ravel(), weights=w.ravel(), minlength=b * kk).reshape(b, state["kx"], state["ky"])
    return _kendall_from_tables(T)


_KENDALL_MAX_CELLS = 4096  # distinct x values * distinct y values: above this, the bootstrap loops


def _kendall_if_few_values(a, b) -> _Batched | None:
    """A batched Kendall tau-b when x and y take few distinct values (scales, counts), else None."""
    try:
        x, y = ag._numeric_pair(a, b)
    except ValueError:
        return None
    if len(np.unique(x)) * len(np.unique(y)) > _KENDALL_MAX_CELLS:
        return None
    return _Batched(_prep_table, _kendall_batched, "table")


BATCHED_METRICS: dict[str, _Batched] = {
    "accuracy": _cm_metric(lambda s, cm: ag._accuracy_from_cm(cm)),
    "cohen_kappa": _kappa_batched(None),
    "linear_kappa": _kappa_batched("linear"),
    "quadratic_kappa": _kappa_batched("quadratic"),
    "gwet_ac1": _cm_metric(lambda s, cm: ag._ac1_from_cm(cm)),
    "macro_f1": _cm_metric(lambda s, cm: ag._macro_f1_from_cm(cm)),
    "krippendorff_alpha": _alpha_batched("nominal"),
    "krippendorff_alpha_nominal": _alpha_batched("nominal"),
    "krippendorff_alpha_ordinal": _alpha_batched("ordinal"),
    "krippendorff_alpha_interval": _alpha_batched("interval"),
    "krippendorff_alpha_ratio": _alpha_batched("ratio"),
    "pearson": _moment(_pearson_batched),
    "spearman": _Batched(_prep_numeric, _spearman_batched, "rank"),
    "mae": _moment(_mae),
    "rmse": _moment(_rmse),
    "mean_signed_error": _moment(_mse),
}
"""Metric name -> batched function ``f(y_true, y_pred, weights, *, labels=None) -> (b,)``.

``weights`` has shape (b, n): row r gives how many times each item is in resample r (any
non-negative weights work). ``kendall_tau`` is batched (from weighted contingency tables) only
when the two variables take few distinct values together (at most 4096 value pairs, e.g. rating
scales); otherwise the bootstrap loops."""

_CATEGORICAL = {name for name, m in BATCHED_METRICS.items() if m.kind == "categorical"}


# -------------------------------------------------------------------------- resampling


def _check_level(level) -> float:
    if not (isinstance(level, int | float) and 0 < level < 1):
        raise ValueError(f"level must be a number strictly between 0 and 1, got {level!r}")
    return float(level)


def _make_rng(seed, rng) -> np.random.Generator:
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        return rng
    return np.random.default_rng(seed)


def _group_codes(groups, n: int) -> tuple[np.ndarray | None, int]:
    """(codes, n_units) of a bootstrap's resampling units: each of the `n` items its own unit (codes None),
    or with `groups` one unit per group, `codes[i]` the unit of item i. Raises ValueError for groups of
    another length, missing groups, or fewer than 2 groups."""
    if groups is None:
        return None, n
    g = ag._as_1d(groups, "groups")
    if len(g) != n:
        raise ValueError(f"y_true and groups have different lengths ({n} vs {len(g)})")
    ag._check_no_missing(g, "groups")
    codes, uniques = pd.factorize(g)
    if len(uniques) < 2:
        raise ValueError(f"a cluster bootstrap needs at least 2 groups, got {len(uniques)}")
    return codes, len(uniques)


def _index_blocks(rng, n_units: int, n_resamples: int, row_bytes: int):
    """Yield row blocks of the (n_resamples, n_units) resample-index matrix."""
    rows = max(1, _CHUNK_BYTES // max(row_bytes, 1))
    done = 0
    while done < n_resamples:
        b = min(rows, n_resamples - done)
        yield rng.integers(0, n_units, size=(b, n_units))
        done += b


def _counts(idx: np.ndarray, n_units: int) -> np.ndarray:
    """(b, n_units) multiplicities of each unit in each row of an index block."""
    b = idx.shape[0]
    key = np.arange(b, dtype=np.int64)[:, None] * n_units + idx
    return np.bincount(key.ravel(), minlength=b * n_units).reshape(b, n_units)


def _resample_blocks(cache, seed, n_units: int, n_resamples: int, row_bytes: int, group_codes):
    """(index block, weights()) for each row block of the seeded (n_resamples, n_units) index matrix;
    weights() gives the block's (b, n) float weights (per row: how often each row's unit is drawn).

    Drawn lazily, block by block, so memory stays bounded. With a `cache` (bootstrap_cis) and a draw
    that fits in one block, the block and its weights are kept there and given again to a call with
    the same seed, size and groups.
    """
    def weights_of(idx, memo):
        def weights():
            if "w" not in memo:
                counts = _counts(idx, n_units)
                memo["w"] = (counts if group_codes is None else counts[:, group_codes]).astype(np.float64)
            return memo["w"]
        return weights

    rows = max(1, _CHUNK_BYTES // max(row_bytes, 1))
    if cache is None or not isinstance(seed, int | np.integer) or rows < n_resamples:
        for idx in _index_blocks(np.random.default_rng(seed), n_units, n_resamples, row_bytes):
            yield idx, weights_of(idx, {})
        return
    key = ("resamples", int(seed), n_units, n_resamples)
    if key not in cache:
        (idx,) = _index_blocks(np.random.default_rng(seed), n_units, n_resamples, row_bytes)
        cache[key] = (idx, {})
    idx, by_groups = cache[key]
    yield idx, weights_of(idx, by_groups.setdefault(None if group_codes is None else group_codes.tobytes(), {}))


def _safe_call(fn, *args) -> float:
    try:
        value = float(fn(*args))
    except (ValueError, ZeroDivisionError, FloatingPointError):
        return math.nan
    return value


def bootstrap_distribution(
    y_true, y_pred, *, metric="quadratic_kappa", n_resamples=1000, seed=0, rng=None, groups=None, labels=None
) -> tuple[float, np.ndarray, int]:
    """The point estimate and the bootstrap replicates behind :func:`bootstrap_ci`.

    Parameters are those of :func:`bootstrap_ci`.

    Returns
    -------
    estimate : float
        The metric on the full sample.
    replicates : ndarray of shape (n_resamples,)
        The metric on each resample; NaN where it is undefined.
    n_units : int
        Number of resampled units (items, or groups with ``groups=``).

    Examples
    --------
    >>> est, reps, n = bootstrap_distribution([1, 2, 3, 4, 5], [1, 2, 3, 5, 4], metric="mae",
    ...                                       n_resamples=200, seed=1)
    >>> est, reps.shape, n
    (0.4, (200,), 5)
    """
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int | np.integer) or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    gen = _make_rng(seed, rng)
    a = ag._as_1d(y_true, "y_true")
    b = ag._as_1d(y_pred, "y_pred")
    ag._check_same_length(a, b, ("y_true", "y_pred"))
    n = len(a)

    if callable(metric):
        point_fn, batched = metric, None
    elif isinstance(metric, str) and metric in METRICS:
        name = metric
        if name in _CATEGORICAL and labels is None:
            labels = ag._resolve_labels(*ag._categorical_pair(a, b), None)

        def point_fn(t, p, _f=METRICS[name], _l=labels):
            return _f(t, p, labels=_l)

        batched = BATCHED_METRICS.get(name)
        if name == "kendall_tau":
            batched = _kendall_if_few_values(a, b)
    else:
        raise ValueError(f"metric must be a callable or one of {sorted(METRICS)}, got {metric!r}")
    estimate = float(point_fn(a, b))

    group_codes, n_units = _group_codes(groups, n)

    reps = np.empty(n_resamples)
    done = 0
    if batched is not None:
        state = batched.prepare(a, b, labels)
        k = state.get("k", 0)
        row_bytes = 8 * (4 * n + n_units + k * k * 4)
        for idx in _index_blocks(gen, n_units, n_resamples, row_bytes):
            if batched.from_cm is not None and group_codes is None:
                # item bootstrap of a confusion-matrix metric: straight from the indices,
                # np.bincount(b*K*K + i*K + j) over the block
                key = np.arange(len(idx), dtype=np.int64)[:, None] * (k * k) + state["cell"][idx]
                cm = np.bincount(key.ravel(), minlength=len(idx) * k * k).reshape(len(idx), k, k)
                with np.errstate(divide="ignore", invalid="ignore"):
                    reps[done : done + len(idx)] = batched.from_cm(state, cm)
                done += len(idx)
                continue
            counts = _counts(idx, n_units)
            w = counts if group_codes is None else counts[:, group_codes]
            with np.errstate(divide="ignore", invalid="ignore"):
                reps[done : done + len(idx)] = batched.compute(state, w.astype(np.float64))
            done += len(idx)
        return estimate, reps, n_units

    if group_codes is not None:
        order = np.argsort(group_codes, kind="stable")
        sizes = np.bincount(group_codes, minlength=n_units)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    for idx in _index_blocks(gen, n_units, n_resamples, 8 * n_units):
        for row in idx:
            if group_codes is not None:
                lengths = sizes[row]
                offsets = np.repeat(starts[row] - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
                row = order[offsets + np.arange(lengths.sum())]
            reps[done] = _safe_call(point_fn, a[row], b[row])
            done += 1
    return estimate, reps, n_units


def bootstrap_ci(
    y_true,
    y_pred,
    *,
    metric="quadratic_kappa",
    n_resamples=1000,
    level=0.95,
    seed=0,
    rng=None,
    groups=None,
    labels=None,
) -> Estimate:
    """Percentile bootstrap confidence interval for an agreement metric.

    Resamples items (or, with ``groups``, whole groups: a cluster bootstrap) with
    replacement ``n_resamples`` times, computes the metric on each resample and takes the
    ``(1 - level)/2`` and ``(1 + level)/2`` percentiles. Built-in metrics are computed for
    all resamples at once (see the module docstring); ``kendall_tau`` and callables loop.

    Resamples on which the metric is undefined (e.g. kappa when a resample holds a single
    label, a correlation when a resample is constant) give NaN and are ignored by
    ``np.nanpercentile``; their number is stated in ``method``. If all are undefined, the
    bounds are NaN.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        Reference and rater labels or scores, without missing values.
    metric : str or callable
        A key of :data:`METRICS` (``accuracy``, ``cohen_kappa``, ``linear_kappa``,
        ``quadratic_kappa``, ``gwet_ac1``, ``macro_f1``, ``krippendorff_alpha[_nominal|
        _ordinal|_interval|_ratio]``, ``pearson``, ``spearman``, ``kendall_tau``, ``mae``,
        ``rmse``, ``mean_signed_error``), or ``f(y_true, y_pred) -> float`` called on each
        resample (ValueError inside it counts as undefined).
    n_resamples : int
        Number of bootstrap resamples B.
    level : float
        Nominal coverage, in (0, 1).
    seed : int or None
        Seed of ``numpy.random.default_rng`` when ``rng`` is not given.
    rng : numpy.random.Generator, optional
        Generator to draw from (takes precedence over ``seed``).
    groups : array-like of shape (n,), optional
        Cluster of each item (e.g. the source document); whole groups are resampled.
    labels : array-like of shape (K,), optional
        Ordered label set for the categorical metrics; default the sorted union of the
        labels observed in the full sample, kept fixed across resamples (so a label absent
        from a resample still counts in K and in the kappa weights).

    Returns
    -------
    Estimate
        ``estimate`` on the full sample, the interval, ``n`` = items (or groups), and
        ``method`` e.g. ``"percentile bootstrap (B=1000)"``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> truth = rng.integers(1, 6, 300)
    >>> pred = np.clip(truth + rng.integers(-1, 2, 300), 1, 5)
    >>> e = bootstrap_ci(truth, pred, metric="quadratic_kappa", n_resamples=500, seed=0)
    >>> e.ci_low < e.estimate < e.ci_high, e.n, e.method
    (True, 300, 'percentile bootstrap (B=500)')
    """
    level = _check_level(level)
    estimate, reps, n_units = bootstrap_distribution(
        y_true, y_pred, metric=metric, n_resamples=n_resamples, seed=seed, rng=rng, groups=groups, labels=labels
    )
    ok = ~np.isnan(reps)
    if ok.any():
        lo, hi = np.nanpercentile(reps, [50 * (1 - level), 50 * (1 + level)])
    else:
        lo = hi = math.nan
    method = f"percentile bootstrap (B={n_resamples}"
    if groups is not None:
        method = f"cluster percentile bootstrap over {n_units} groups (B={n_resamples}"
    n_bad = int((~ok).sum())
    if n_bad:
        method += f", {n_bad} undefined resamples ignored"
    return Estimate(estimate, float(lo), float(hi), n=int(n_units), method=method + ")", level=level)


def bootstrap_cis(data, *, n_resamples=1000, level=0.95, seed=0, groups=None, cache=None) -> dict[str, Estimate]:
    """Several metrics' percentile bootstrap CIs from one shared set of resamples.

    Equal to calling :func:`bootstrap_ci` for each metric with the same ``seed`` (the resample
    indices are drawn once and reused), but the index matrix and the per-item counts are made
    once instead of once per metric.

    Parameters
    ----------
    data : mapping of name -> (y_true, y_pred, metric, labels)
        Each entry's arrays must have the same length n (one row per item, or per judgment with
        ``groups``); ``metric`` a key of :data:`METRICS`; ``labels`` None or the label set.
    n_resamples, level, seed, groups
        As in :func:`bootstrap_ci`.
    cache : dict, optional
        A dict the caller keeps across calls (start it empty): the resample indices, the weights and
        the statistics of each ``y_true`` (its ranks, centred moments) are kept in it and reused by a
        later call with the same ``seed``, ``n_resamples``, units and ``y_true`` -- e.g. every labeler
        compared with one gold. The results are the same with or without it; it holds a few arrays of
        shape (n_resamples, n), so keep it for one such set of calls.

    Returns
    -------
    dict of name -> Estimate
        Entries whose metric is undefined on the full sample (ValueError) are left out.

    Examples
    --------
    >>> t, p = [1, 2, 3, 4, 5, 3], [1, 2, 3, 5, 4, 3]
    >>> out = bootstrap_cis({"mae": (t, p, "mae", None), "pearson": (t, p, "pearson", None)}, n_resamples=200)
    >>> out["mae"] == bootstrap_ci(t, p, metric="mae", n_resamples=200)
    True
    """
    level = _check_level(level)
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int | np.integer) or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    fast, out, shared = {}, {}, {}
    n = None
    for name, (y_true, y_pred, metric, labels) in data.items():
        a, b = ag._as_1d(y_true, "y_true"), ag._as_1d(y_pred, "y_pred")
        ag._check_same_length(a, b, ("y_true", "y_pred"))
        if n is None:
            n = len(a)
        elif len(a) != n:
            raise ValueError(f"every entry of data needs the same length ({n}); {name!r} has {len(a)}")
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {sorted(METRICS)}, got {metric!r}")
        batched = BATCHED_METRICS.get(metric) if metric != "kendall_tau" else _kendall_if_few_values(a, b)
        if metric in _CATEGORICAL and labels is None:
            try:
                labels = ag._resolve_labels(*ag._categorical_pair(a, b), None)
            except ValueError:
                continue
        try:
            estimate = float(METRICS[metric](a, b, labels=labels))
            state = None
            if batched is not None:
                # numeric metrics of the same pair share one state, so Pearson and Spearman reuse
                # each block's per-value weights (_value_weights) instead of recomputing them
                share = (batched.prepare is _prep_numeric and a.dtype != object and b.dtype != object)
                skey = (a.dtype.str, a.tobytes(), b.dtype.str, b.tobytes()) if share else None
                state = shared.get(skey) if share else None
                if state is None:
                    state = batched.prepare(a, b, labels)
                    if share:
                        shared[skey] = state
                        if cache is not None:  # the reference's per-block statistics, across calls
                            state.setdefault("_memo", {})["x"] = cache.setdefault(("x", skey[0], skey[1]), {})
        except ValueError:
            continue
        if batched is None:
            out[name] = bootstrap_ci(a, b, metric=metric, n_resamples=n_resamples, level=level, seed=seed,
                                     groups=groups, labels=labels)
            continue
        fast[name] = (batched, state, estimate)
    if not fast:
        return out
    group_codes, n_units = _group_codes(groups, n)
    reps = {name: np.empty(n_resamples) for name in fast}
    k = max(st.get("k", 0) for _, st, _ in fast.values())
    row_bytes = 8 * (4 * n + n_units + k * k * 4)
    blocks = _resample_blocks(cache, seed, n_units, n_resamples, row_bytes, group_codes)
    done = 0
    # confusion-matrix metrics of the same pair and label set (accuracy, the kappas, alpha...) have the
    # same cells: one bincount per block serves them all (the from_cm formulas only read it)
    cm_key = {name: (st["k"], st["cell"].tobytes()) for name, (bt, st, _) in fast.items()
              if bt.from_cm is not None and group_codes is None}
    for idx, weights in blocks:
        w = None
        cms = {}
        for name, (batched, state, _) in fast.items():
            with np.errstate(divide="ignore", invalid="ignore"):
                if name in cm_key:
                    cm = cms.get(cm_key[name])
                    if cm is None:
                        kk = state["k"] ** 2
                        key = np.arange(len(idx), dtype=np.int64)[:, None] * kk + state["cell"][idx]
                        cm = np.bincount(key.ravel(), minlength=len(idx) * kk).reshape(len(idx), state["k"],
                                                                                       state["k"])
                        cms[cm_key[name]] = cm
                    reps[name][done: done + len(idx)] = batched.from_cm(state, cm)
                    continue
                if w is None:
                    w = weights()
                reps[name][done: done + len(idx)] = batched.compute(state, w)
        done += len(idx)
    for name, (_, _, estimate) in fast.items():
        r = reps[name]
        ok = ~np.isnan(r)
        lo, hi = np.nanpercentile(r, [50 * (1 - level), 50 * (1 + level)]) if ok.any() else (math.nan, math.nan)
        method = f"percentile bootstrap (B={n_resamples}"
        if groups is not None:
            method = f"cluster percentile bootstrap over {n_units} groups (B={n_resamples}"
        if (~ok).sum():
            method += f", {int((~ok).sum())} undefined resamples ignored"
        out[name] = Estimate(estimate, float(lo), float(hi), n=int(n_units), method=method + ")", level=level)
    return {name: out[name] for name in data if name in out}


def grouped_correlation_ci(x, y, groups, *, method="pearson", n_resamples=1000, level=0.95, seed=0,
                           rng=None) -> GroupedEstimate:
    """The per-group-averaged correlation with a cluster-bootstrap CI over groups.

    A resample draws G groups with replacement from the G groups; each drawn group keeps its
    own items and counts as a group of its own (drawn twice, it counts twice). The
    correlation inside a group does not change when the group is drawn, so the statistic of
    resample b is ``sum_g C[b, g] r_g / sum_g C[b, g] d_g`` over the groups where r_g is
    defined (d_g = 1), with C the bincounts of the (B, G) resample-index matrix: each group's
    correlation is computed once, then every resample is one row of a matrix product. A
    resample that draws no defined group is undefined and ignored (counted in ``method``).

    Parameters
    ----------
    x, y : array-like of shape (n,)
        Numeric scores, finite.
    groups : array-like of shape (n,)
        Group of each item, no missing values.
    method : {"pearson", "spearman", "kendall"}
        Correlation inside each group (Kendall is tau-b).
    n_resamples : int
        Number of bootstrap resamples B.
    level : float
        Nominal coverage, in (0, 1).
    seed, rng
        As in :func:`bootstrap_ci`; the index matrix is ``rng.integers(0, G, (B, G))``.

    Returns
    -------
    GroupedEstimate
        ``estimate`` = ``grouped_correlation(x, y, groups, method=method, level="per_group")``,
        ``n`` = groups with a defined correlation, ``n_skipped`` = the others (fewer than 2
        items, or a constant score).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> g = np.repeat(np.arange(12), 10)
    >>> x = rng.normal(size=120)
    >>> y = x + rng.normal(size=120)
    >>> e = grouped_correlation_ci(x, y, g, n_resamples=500, seed=0)
    >>> e.ci_low < e.estimate < e.ci_high, e.n, e.n_skipped
    (True, 12, 0)
    """
    level = _check_level(level)
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int | np.integer) or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    values, labels = ag.per_group_correlations(x, y, groups, method=method)
    defined = ~np.isnan(values)
    if not defined.any():
        raise ValueError("no group has a defined correlation (every group has < 2 items or a constant score)")
    r = np.where(defined, values, 0.0)
    d = defined.astype(float)
    n_groups = len(values)
    generator = _make_rng(seed, rng)
    reps = np.empty(n_resamples)
    done = 0
    for idx in _index_blocks(generator, n_groups, n_resamples, n_groups * 8):
        counts = _counts(idx, n_groups)
        with np.errstate(divide="ignore", invalid="ignore"):
            reps[done:done + len(idx)] = (counts @ r) / (counts @ d)
        done += len(idx)
    ok = ~np.isnan(reps)
    lo, hi = np.percentile(reps[ok], [50 * (1 - level), 50 * (1 + level)]) if ok.any() else (math.nan, math.nan)
    note = f", {int((~ok).sum())} undefined resamples ignored" if (~ok).any() else ""
    return GroupedEstimate(float(values[defined].mean()), float(lo), float(hi), n=int(defined.sum()),
                           method=f"per-group mean; cluster percentile bootstrap over {n_groups} groups "
                                  f"(B={n_resamples}{note})", level=level, n_skipped=int((~defined).sum()))


def wilson_interval(successes, n, *, level=0.95) -> Estimate:
    """Wilson score interval for a binomial proportion (e.g. accuracy on n items).

    Parameters
    ----------
    successes : int
        Number of successes, 0 <= successes <= n.
    n : int
        Number of trials, n >= 1.
    level : float
        Nominal coverage, in (0, 1).

    Returns
    -------
    Estimate
        ``estimate = successes / n`` and the Wilson bounds (inside [0, 1]).

    Examples
    --------
    >>> e = wilson_interval(0, 10)
    >>> e.estimate, round(e.ci_low, 4), round(e.ci_high, 4)
    (0.0, 0.0, 0.2775)
    >>> round(wilson_interval(81, 100).ci_low, 4)
    0.7222
    """
    level = _check_level(level)
    for name, v in (("successes", successes), ("n", n)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer):
            raise ValueError(f"{name} must be an integer, got {v!r}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be between 0 and n={n}, got {successes}")
    z = float(stats.norm.ppf(0.5 + level / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return Estimate(float(p), lo, hi, n=int(n), method="wilson", level=level)
