"""Choosing which items people should label.

Three families of selection, all pure and seeded:

- :func:`stratified_sample` draws a gold sample that covers every stratum (proportional or equal
  allocation).
- :func:`select_low_confidence`, :func:`select_high_entropy`, :func:`select_disagreement` rank
  items by how unsure the labelers look and return the top ``k``.
- :func:`fit_error_predictor` / :func:`score_error_predictor` learn, from items that already have
  gold, where a labeler tends to disagree with people, and score unlabeled items so likely errors
  are routed to people first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "MISSING_STRATUM",
    "allocate",
    "stratified_sample",
]

#: Name under which None / NaN strata are reported.
MISSING_STRATUM = "missing"


def _rng(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an int or a numpy Generator, got {seed!r}")
    return np.random.default_rng(int(seed))


def _as_1d(x, name: str) -> np.ndarray:
    arr = np.asarray(x.to_numpy() if isinstance(x, (pd.Series, pd.Index)) else x, dtype=object)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def _factorize_strata(strata) -> tuple[np.ndarray, list]:
    """Codes 0..H-1 in order of first appearance; None/NaN form their own stratum."""
    arr = _as_1d(strata, "strata")
    codes, uniques = pd.factorize(pd.Series(arr, dtype=object), use_na_sentinel=True)
    names = list(uniques)
    if (codes < 0).any():
        codes = np.where(codes < 0, len(names), codes)
        names.append(MISSING_STRATUM)
    return codes.astype(np.int64), names


def _check_size(size, name: str = "size") -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {size!r}")
    return int(size)


def allocate(stratum_sizes, size, *, allocation: str = "proportional") -> np.ndarray:
    """How many items to draw from each stratum.

    Parameters
    ----------
    stratum_sizes : array-like of int, shape (n_strata,)
        Number of available items per stratum.
    size : int
        Total to draw; capped at ``sum(stratum_sizes)``.
    allocation : {"proportional", "equal"}
        ``"proportional"``: quota ``size * N_h / N`` rounded by the largest-remainder method, so
        the total is exactly ``size`` (ties in the remainder go to the larger stratum, then to
        the earlier one). ``"equal"``: every stratum gets the same count; a stratum too small to
        fill its share gives all it has and the rest is shared among the others (water-filling);
        the last few items that cannot be split evenly go to the largest strata, then the
        earlier ones.

    Returns
    -------
    counts : ndarray of int, shape (n_strata,)
        Per-stratum sample sizes, each ``<= stratum_sizes[h]``, summing to ``min(size, N)``.

    Examples
    --------
    >>> allocate([50, 30, 20], 10).tolist()
    [5, 3, 2]
    >>> allocate([50, 30, 2], 12, allocation="equal").tolist()
    [5, 5, 2]
    """
    sizes = np.asarray(stratum_sizes)
    if sizes.ndim != 1 or sizes.size == 0:
        raise ValueError("stratum_sizes must be a non-empty one-dimensional array of counts")
    if not np.issubdtype(sizes.dtype, np.number) or np.any(sizes < 0) or np.any(sizes != np.round(sizes)):
        raise ValueError("stratum_sizes must hold non-negative integers")
    sizes = sizes.astype(np.int64)
    total = int(sizes.sum())
    size = min(_check_size(size), total)
    h = sizes.size
    # tie-break order: larger stratum first, then earlier stratum
    order_pref = np.lexsort((np.arange(h), -sizes))
    if allocation == "proportional":
        if total == 0:
            return np.zeros(h, dtype=np.int64)
        # exact integer arithmetic: quota = size*N_h/N = q + r/N
        num = size * sizes
        counts = num // total
        rem = num - counts * total
        short = size - int(counts.sum())
        if short:
            # largest remainder first; ties by preference order
            rank = np.lexsort((np.argsort(order_pref), -rem))
            counts[rank[:short]] += 1
        return counts
    if allocation == "equal":
        counts = np.zeros(h, dtype=np.int64)
        left = size
        open_ = sizes > 0
        while left > 0:
            k = int(open_.sum())
            share = left // k
            capacity = sizes - counts
            if share == 0:
                cand = order_pref[open_[order_pref]][:left]
                counts[cand] += 1
                break
            small = open_ & (capacity <= share)
            if small.any():
                left -= int(capacity[small].sum())
                counts[small] = sizes[small]
                open_ &= ~small
            else:
                counts[open_] += share
                left -= share * k
        return counts
    raise ValueError(f"allocation must be 'proportional' or 'equal', got {allocation!r}")


def stratified_sample(strata, size, *, allocation: str = "proportional", seed=0) -> np.ndarray:
    """Draw a stratified random sample of item positions.

    Parameters
    ----------
    strata : array-like, shape (n_items,)
        Stratum of every item (any hashable values). None and NaN form one extra stratum,
        reported as ``"missing"``.
    size : int
        Number of items to draw; capped at ``n_items``.
    allocation : {"proportional", "equal"}
        How ``size`` is split over strata; see :func:`allocate`.
    seed : int or numpy.random.Generator
        Source of randomness; the same seed gives the same sample.

    Returns
    -------
    indices : ndarray of int64, shape (min(size, n_items),)
        Positional indices into ``strata``, without repeats, in draw order: every item gets a
        seeded uniform key, each stratum contributes its items with the smallest keys, and the
        result is ordered by key. Any prefix of the result is therefore a simple random sample of
        the selected items, which makes it a sensible labeling order.

    Examples
    --------
    >>> strata = ["a"] * 4 + ["b"] * 4 + [None] * 2
    >>> idx = stratified_sample(strata, 5, seed=1)
    >>> sorted(pd.Series(strata, dtype=object).iloc[idx].fillna("missing").value_counts().to_dict().items())
    [('a', 2), ('b', 2), ('missing', 1)]
    >>> np.array_equal(idx, stratified_sample(strata, 5, seed=1))
    True
    """
    codes, _names = _factorize_strata(strata)
    size = _check_size(size)
    n = codes.size
    if n == 0:
        if size == 0:
            return np.zeros(0, dtype=np.int64)
        raise ValueError("strata is empty: there is nothing to sample")
    rng = _rng(seed)
    counts = allocate(np.bincount(codes), min(size, n), allocation=allocation)
    keys = rng.random(n)
    # order by stratum, then key; rank of each item inside its stratum
    order = np.lexsort((keys, codes))
    sorted_codes = codes[order]
    starts = np.searchsorted(sorted_codes, np.arange(counts.size))
    rank = np.arange(n) - starts[sorted_codes]
    chosen = order[rank < counts[sorted_codes]]
    return chosen[np.argsort(keys[chosen], kind="stable")].astype(np.int64)
