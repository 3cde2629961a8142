"""Two labelers on the same items: a paired bootstrap CI of a metric difference, McNemar's test.

Both labelers are scored against the same reference (``y_true``, e.g. the gold) on the same
items, so their errors are correlated; comparing two independent CIs would overstate the
uncertainty of the difference. The paired bootstrap draws ONE resample-index matrix of shape
(B, n) from the seeded generator and scores both arms on every row of it; the interval is the
percentile interval of ``metric(A) - metric(B)`` over the rows. Each row becomes per-item
counts (one bincount) and every metric is a batched weighted statistic of those counts
(:data:`qc.uncertainty.BATCHED_METRICS`), so no Python loop runs over resamples.

McNemar's test compares the accuracies of A and B from the discordant items only (A right
and B wrong: ``n10``; A wrong and B right: ``n01``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from qc import agreement as ag
from qc.estimate import Estimate
from qc.uncertainty import (
    _CATEGORICAL,
    BATCHED_METRICS,
    METRICS,
    _check_level,
    _counts,
    _group_codes,
    _index_blocks,
)

__all__ = ["paired_bootstrap_ci", "paired_bootstrap_cis", "mcnemar_test", "McNemarResult", "PAIRED_METRICS"]

PAIRED_METRICS = tuple(sorted(BATCHED_METRICS))
"""Metric names :func:`paired_bootstrap_cis` accepts (those of qc.uncertainty with a batched form)."""

EXACT_BELOW = 25
"""McNemar's default: the exact binomial test when fewer than this many items are discordant."""


def _check_resamples(n_resamples) -> int:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int | np.integer) or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    return int(n_resamples)


def _triple(y_true, pred_a, pred_b, n=None):
    t = ag._as_1d(y_true, "y_true")
    a = ag._as_1d(pred_a, "pred_a")
    b = ag._as_1d(pred_b, "pred_b")
    ag._check_same_length(t, a, ("y_true", "pred_a"))
    ag._check_same_length(t, b, ("y_true", "pred_b"))
    if n is not None and len(t) != n:
        raise ValueError(f"every entry of data needs the same length ({n}), got {len(t)}")
    return t, a, b


def paired_bootstrap_cis(data, *, n_resamples=2000, level=0.95, seed=0, groups=None) -> dict[str, Estimate]:
    """Paired percentile-bootstrap CIs of ``metric(A) - metric(B)`` for several metrics at once.

    Parameters
    ----------
    data : mapping of name -> (y_true, pred_a, pred_b, metric, labels)
        Arrays of shape (n,), the same n and the same items in the same order in every entry;
        ``metric`` one of :data:`PAIRED_METRICS`; ``labels`` None or the label set (for the
        categorical metrics; None: the labels seen in any of the three arrays).
    n_resamples : int
        Bootstrap resamples B.
    level : float
        Coverage of the interval, strictly between 0 and 1.
    seed : int
        Seed of the one resample-index matrix (B, n) every metric and both arms share.
    groups : array-like of shape (n,), optional
        Cluster ids (e.g. the item of each judgment when an item was judged in both
        presentation orders): whole groups are resampled, and ``n`` counts groups.

    Returns
    -------
    dict of name -> Estimate
        ``estimate`` = metric(y_true, pred_a) - metric(y_true, pred_b) on all items,
        percentile CI, ``n`` = items (groups). A resample where either arm is undefined is ignored
        (counted in ``method``). Entries undefined on the full sample are left out.

    Raises
    ------
    ValueError
        Unknown metric, arrays of different lengths, missing values, bad B or level.

    Examples
    --------
    >>> t = [0, 1, 1, 0, 1, 0, 1, 1, 0, 0]
    >>> a = [0, 1, 1, 0, 1, 0, 1, 0, 0, 0]
    >>> b = [0, 1, 0, 1, 1, 0, 0, 0, 0, 1]
    >>> out = paired_bootstrap_cis({"acc": (t, a, b, "accuracy", None)}, n_resamples=500, seed=1)
    >>> round(out["acc"].estimate, 2), out["acc"].ci_low <= 0.4 <= out["acc"].ci_high, out["acc"].n
    (0.4, True, 10)
    """
    level = _check_level(level)
    n_resamples = _check_resamples(n_resamples)
    n = None
    arms = {}
    for name, (y_true, pred_a, pred_b, metric, labels) in data.items():
        if metric not in BATCHED_METRICS:
            raise ValueError(f"metric must be one of {list(PAIRED_METRICS)}, got {metric!r}")
        t, a, b = _triple(y_true, pred_a, pred_b, n)
        n = len(t)
        if metric in _CATEGORICAL and labels is None:
            ct, ca = ag._categorical_pair(t, a, ("y_true", "pred_a"))
            _, cb = ag._categorical_pair(t, b, ("y_true", "pred_b"))
            labels = ag._resolve_labels(ct, np.concatenate([ca, cb]), None)
        batched = BATCHED_METRICS[metric]
        try:
            estimate = float(METRICS[metric](t, a, labels=labels)) - float(METRICS[metric](t, b, labels=labels))
        except ValueError:
            continue
        arms[name] = (batched, batched.prepare(t, a, labels), batched.prepare(t, b, labels), estimate)
    out = {}
    if not arms:
        return out
    codes, n_units = _group_codes(groups, n)
    reps = {name: np.empty(n_resamples) for name in arms}
    k = max(st.get("k", 0) for _, st, _, _ in arms.values())
    gen = np.random.default_rng(seed)
    done = 0
    for idx in _index_blocks(gen, n_units, n_resamples, 8 * (6 * n + n_units + 2 * k * k * 4)):
        counts = _counts(idx, n_units)
        w = (counts if codes is None else counts[:, codes]).astype(np.float64)
        for name, (batched, state_a, state_b, _) in arms.items():
            with np.errstate(divide="ignore", invalid="ignore"):
                reps[name][done: done + len(idx)] = batched.compute(state_a, w) - batched.compute(state_b, w)
        done += len(idx)
    for name, (_, _, _, estimate) in arms.items():
        r = reps[name]
        ok = ~np.isnan(r)
        lo, hi = np.percentile(r[ok], [50 * (1 - level), 50 * (1 + level)]) if ok.any() else (math.nan, math.nan)
        method = f"paired percentile bootstrap (B={n_resamples}"
        if codes is not None:
            method = f"paired cluster percentile bootstrap over {n_units} groups (B={n_resamples}"
        if (~ok).any():
            method += f", {int((~ok).sum())} undefined resamples ignored"
        out[name] = Estimate(estimate, float(lo), float(hi), n=int(n_units), method=method + ")", level=level)
    return out


def paired_bootstrap_ci(y_true, pred_a, pred_b, *, metric="accuracy", labels=None, n_resamples=2000, level=0.95,
                        seed=0, groups=None) -> Estimate:
    """Paired percentile-bootstrap CI of ``metric(y_true, pred_a) - metric(y_true, pred_b)``.

    Parameters
    ----------
    y_true, pred_a, pred_b : array-like of shape (n,)
        The reference and the two labelers' outputs on the same n items, in the same order.
    metric : str
        One of :data:`PAIRED_METRICS`, e.g. ``"accuracy"``, ``"cohen_kappa"``, ``"macro_f1"``,
        ``"spearman"``, ``"krippendorff_alpha_ordinal"``.
    labels : sequence, optional
        The label set of a categorical metric.
    n_resamples, level, seed, groups
        As in :func:`paired_bootstrap_cis`.

    Returns
    -------
    Estimate

    Raises
    ------
    ValueError
        As in :func:`paired_bootstrap_cis`, or when the metric is undefined on the full sample.

    Examples
    --------
    >>> t = [1, 2, 3, 4, 5, 1, 2, 3, 4, 5]
    >>> est = paired_bootstrap_ci(t, [1, 2, 3, 5, 4, 1, 2, 3, 4, 5], [2, 1, 3, 3, 5, 2, 2, 4, 3, 5],
    ...                           metric="spearman", n_resamples=300)
    >>> round(est.estimate, 3), est.ci_low < est.estimate < est.ci_high
    (0.089, True)
    """
    out = paired_bootstrap_cis({metric: (y_true, pred_a, pred_b, metric, labels)}, n_resamples=n_resamples,
                               level=level, seed=seed, groups=groups)
    if metric not in out:
        raise ValueError(f"{metric} is undefined on these items for at least one labeler")
    return out[metric]


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test of equal accuracy of two labelers on the same items.

    Attributes
    ----------
    statistic : float
        Exact test: min(n10, n01); chi-square test: (|n10 - n01| - 1)^2 / (n10 + n01).
    pvalue : float
        Two-sided p-value.
    n10, n01 : int
        Items A got right and B wrong; items A got wrong and B right.
    method : str
        ``"exact binomial"`` or ``"chi-square with continuity correction"``.
    """

    statistic: float
    pvalue: float
    n10: int
    n01: int
    method: str

    def to_dict(self) -> dict:
        """Plain-dict form for JSON."""
        return asdict(self)


def mcnemar_test(y_true, pred_a, pred_b, *, exact=None) -> McNemarResult:
    """McNemar's test that labelers A and B are equally accurate on the same items.

    Only the discordant items count: ``n10`` (A right, B wrong) and ``n01`` (A wrong, B right).
    The exact test is the two-sided binomial test of n10 out of n10 + n01 at 1/2,
    ``min(1, 2 * Binom.cdf(min(n10, n01)))``; the asymptotic one is the chi-square (1 df) with
    continuity correction, ``(|n10 - n01| - 1)^2 / (n10 + n01)``. Both equal
    ``statsmodels.stats.contingency_tables.mcnemar`` with ``exact=True`` / ``exact=False,
    correction=True``.

    Parameters
    ----------
    y_true, pred_a, pred_b : array-like of shape (n,)
        The reference and the two labelers' labels on the same items (compared for equality).
    exact : bool, optional
        True: exact binomial; False: chi-square with continuity correction; None (default):
        exact when fewer than :data:`EXACT_BELOW` (25) items are discordant, else chi-square.

    Returns
    -------
    McNemarResult
        With no discordant item the labelers cannot be told apart: p-value 1 (exact test).

    Examples
    --------
    >>> t = [1] * 30
    >>> a = [1] * 25 + [0] * 5
    >>> b = [1] * 15 + [0] * 15
    >>> r = mcnemar_test(t, a, b)
    >>> r.n10, r.n01, r.method, round(r.pvalue, 5)
    (10, 0, 'exact binomial', 0.00195)
    """
    t, a, b = _triple(y_true, pred_a, pred_b)
    ca = ag._categorical_pair(t, a, ("y_true", "pred_a"))
    cb = ag._categorical_pair(t, b, ("y_true", "pred_b"))
    right_a = ca[0] == ca[1]
    right_b = cb[0] == cb[1]
    n10 = int(np.sum(right_a & ~right_b))
    n01 = int(np.sum(~right_a & right_b))
    if exact not in (None, True, False):
        raise ValueError(f"exact must be None, True or False, got {exact!r}")
    discordant = n10 + n01
    if exact is None:
        exact = discordant < EXACT_BELOW
    if exact or discordant == 0:
        statistic = float(min(n10, n01))
        pvalue = float(min(1.0, 2.0 * stats.binom.cdf(statistic, discordant, 0.5)))
        return McNemarResult(statistic, pvalue, n10, n01, "exact binomial")
    statistic = (abs(n10 - n01) - 1.0) ** 2 / discordant
    return McNemarResult(float(statistic), float(stats.chi2.sf(statistic, 1)), n10, n01,
                         "chi-square with continuity correction")
