"""Is the labeler changing? Anchor re-runs, label-distribution drift, output diversity.

- :func:`anchor_drift`: two runs of a labeler on the same anchor items: agreement, flip rate and
  mean shift, with CIs.
- :func:`label_entropy`, :func:`distribution_drift`: entropy and Jensen-Shannon divergence from a
  baseline batch, with a collapse flag. Both accept pre-aggregated counts (a vector, or a DataFrame
  of batch x label counts as SQL returns it), so 10M rows never need to leave the database;
  :func:`label_counts` builds that table from raw rows.
- :func:`lexical_diversity`, :func:`semantic_diversity`: distinct-n, type-token ratio and TF-IDF
  mean pairwise cosine distance of generated texts (e.g. explanations).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from qc.bias import _level, _missing, _numeric_or_none, _objects, _wilson, js_divergence
from qc.estimate import Estimate

__all__ = [
    "AnchorDrift",
    "anchor_drift",
    "distribution_drift",
    "label_counts",
    "label_entropy",
    "lexical_diversity",
    "semantic_diversity",
]


# ---------------------------------------------------------------- anchors
@dataclass(frozen=True)
class AnchorDrift:
    """Change between two runs of a labeler on the same anchor items.

    Attributes
    ----------
    agreement : Estimate
        Share of items with the same label in both runs (Wilson interval).
    flip_rate : Estimate
        ``1 - agreement``: share of items whose label changed (Wilson interval).
    mean_shift : Estimate or None
        Mean of ``run_b - run_a`` with a t-interval; None for non-numeric labels.
    n : int
        Items labeled in both runs.
    """

    agreement: Estimate
    flip_rate: Estimate
    mean_shift: Estimate | None
    n: int


def anchor_drift(run_a, run_b, *, tolerance: float = 0.0, level: float = 0.95) -> AnchorDrift:
    """Agreement, flip rate and mean shift between two runs on the same anchor items.

    Parameters
    ----------
    run_a, run_b : array-like, shape (n,)
        Labels of the same items, aligned by position (earlier run first). Items missing in either
        run are dropped.
    tolerance : float
        Numeric labels count as equal when ``|b - a| <= tolerance`` (e.g. for means of samples).
    level : float

    Returns
    -------
    AnchorDrift

    Examples
    --------
    >>> d = anchor_drift([1, 2, 3, 4, 5] * 4, [1, 2, 3, 4, 4] * 4)
    >>> round(d.flip_rate.estimate, 6), round(d.mean_shift.estimate, 6)
    (0.2, -0.2)
    """
    from scipy import stats

    level = _level(level)
    a, b = _objects(run_a, "run_a"), _objects(run_b, "run_b")
    if a.size != b.size:
        raise ValueError(f"run_a and run_b must have the same length, got {a.size} and {b.size}")
    keep = ~(_missing(a) | _missing(b))
    a, b = a[keep], b[keep]
    n = int(a.size)
    if n == 0:
        raise ValueError("no anchor items labeled in both runs")
    an, bn = _numeric_or_none(a), _numeric_or_none(b)
    numeric = an is not None and bn is not None
    same = np.abs(bn - an) <= tolerance if numeric else a == b
    k = int(same.sum())
    lo, hi = _wilson(k, n, level)
    agreement = Estimate(k / n, float(lo), float(hi), n=n, method="wilson", level=level)
    flip = Estimate((n - k) / n, 1 - float(hi), 1 - float(lo), n=n, method="wilson", level=level)
    shift = None
    if numeric:
        d = bn - an
        m = float(d.mean())
        if n >= 2:
            half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * float(d.std(ddof=1)) / math.sqrt(n)
            shift = Estimate(m, m - half, m + half, n=n, method="t", level=level)
        else:
            shift = Estimate(m, float("nan"), float("nan"), n=n, method="t", level=level)
    return AnchorDrift(agreement=agreement, flip_rate=flip, mean_shift=shift, n=n)


# ---------------------------------------------------------------- label distributions
def label_counts(batch, labels) -> pd.DataFrame:
    """Batch x label count table from raw rows (what the app's SQL ``GROUP BY`` returns).

    Parameters
    ----------
    batch, labels : array-like, shape (n,)
        Batch id and label of every row; rows with a missing label are dropped.

    Returns
    -------
    DataFrame, shape (n_batches, n_labels)
        Integer counts; index = batches (sorted), columns = labels (sorted).

    Examples
    --------
    >>> label_counts(["b1", "b1", "b2"], ["x", "y", "y"]).to_dict("index")
    {'b1': {'x': 1, 'y': 1}, 'b2': {'x': 0, 'y': 1}}
    """
    b, lab = _objects(batch, "batch"), _objects(labels, "labels")
    if b.size != lab.size:
        raise ValueError(f"batch and labels must have the same length, got {b.size} and {lab.size}")
    keep = ~_missing(lab)
    if _missing(b[keep]).any():
        raise ValueError("batch contains missing values")
    t = pd.crosstab(pd.Series(b[keep], name="batch"), pd.Series(lab[keep], name="label"))
    return t.astype(np.int64)


def _count_table(counts, name: str = "counts") -> tuple[np.ndarray, pd.Index | None, pd.Index | None]:
    """2-D float counts plus (row index, column index) when given as pandas."""
    if isinstance(counts, pd.DataFrame):
        arr, idx, cols = counts.to_numpy(dtype=float), counts.index, counts.columns
    elif isinstance(counts, pd.Series):
        arr, idx, cols = counts.to_numpy(dtype=float)[None, :], None, counts.index
    else:
        arr = np.asarray(counts, dtype=float)
        idx = cols = None
        if arr.ndim == 1:
            arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise ValueError(f"{name} must be a vector or a (batch x label) table of counts, got shape {arr.shape}")
    if np.isnan(arr).any() or np.any(arr < 0):
        raise ValueError(f"{name} must hold non-negative counts without NaN")
    return arr, idx, cols


def label_entropy(counts, *, base: float = 2.0):
    """Entropy of label distributions given as counts.

    Parameters
    ----------
    counts : array-like or Series, shape (n_labels,), or DataFrame, shape (n_batches, n_labels)
        Label counts (or probabilities).
    base : float
        Logarithm base.

    Returns
    -------
    float for a vector; Series (indexed like the DataFrame's rows) for a table. NaN for an empty
    batch.

    Examples
    --------
    >>> label_entropy([5, 5, 0])
    1.0
    >>> label_entropy(pd.DataFrame({"a": [4, 1], "b": [0, 1]}, index=["d1", "d2"])).tolist()
    [0.0, 1.0]
    """
    arr, idx, _ = _count_table(counts)
    tot = arr.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = arr / tot
        h = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1) / math.log(base)
    h = np.where(tot[:, 0] > 0, h + 0.0, np.nan)
    if isinstance(counts, pd.DataFrame):
        return pd.Series(h, index=idx, name="entropy")
    if np.ndim(counts) == 2 and not isinstance(counts, pd.Series):
        return h
    return float(h[0])


def distribution_drift(
    counts,
    baseline,
    *,
    smoothing: float = 0.5,
    min_entropy_ratio: float = 0.5,
    max_share: float = 0.9,
    base: float = 2.0,
) -> pd.DataFrame:
    """Label-distribution drift of each batch from a baseline batch, with a collapse flag.

    Parameters
    ----------
    counts : DataFrame, shape (n_batches, n_labels), or array-like
        Label counts per batch (rows) and label (columns), e.g. from SQL or :func:`label_counts`.
    baseline : label of a row of ``counts``, or counts (Series by label, or vector in column order)
        The reference distribution (e.g. the calibration batch). A Series is aligned to the columns
        (labels absent from it count 0).
    smoothing : float
        Pseudo-count per label for the Jensen-Shannon divergence (entropy is unsmoothed).
    min_entropy_ratio : float
        Collapse when the batch entropy is below this fraction of the baseline entropy ...
    max_share : float
        ... or when one label holds more than this share of the batch.
    base : float

    Returns
    -------
    DataFrame
        One row per batch: ``n``, ``entropy``, ``baseline_entropy``, ``entropy_ratio``, ``js``
        (Jensen-Shannon divergence from the baseline), ``top_label``, ``top_share``, ``collapsed``.

    Examples
    --------
    >>> c = pd.DataFrame({"pos": [50, 48, 97], "neg": [50, 52, 3]}, index=["w1", "w2", "w3"])
    >>> distribution_drift(c, "w1")[["top_label", "collapsed"]].to_dict("list")
    {'top_label': ['pos', 'neg', 'pos'], 'collapsed': [False, False, True]}
    """
    arr, idx, cols = _count_table(counts)
    if idx is None:
        idx = pd.RangeIndex(arr.shape[0], name="batch")
    if cols is None:
        cols = pd.RangeIndex(arr.shape[1], name="label")
    if isinstance(baseline, pd.Series):
        extra = set(baseline.index) - set(cols)
        if extra and baseline.loc[list(extra)].sum() > 0:
            raise ValueError(f"baseline has labels not in counts: {sorted(map(str, extra))}")
        ref = baseline.reindex(cols, fill_value=0).to_numpy(dtype=float)
    elif np.ndim(baseline) == 1 and not isinstance(baseline, str):
        ref = np.asarray(baseline, dtype=float)
        if ref.size != arr.shape[1]:
            raise ValueError(f"baseline must have {arr.shape[1]} counts, one per label, got {ref.size}")
    else:
        if baseline not in idx:
            raise ValueError(f"baseline {baseline!r} is not a row of counts")
        ref = arr[idx.get_loc(baseline)]
    ref2, _, _ = _count_table(ref, "baseline")
    if ref2.sum() <= 0:
        raise ValueError("baseline has no labels")
    n = arr.sum(axis=1)
    h = label_entropy(arr, base=base)
    h0 = label_entropy(ref2[0], base=base)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = arr / n[:, None]
        ratio = np.where(h0 > 0, h / h0, np.where(h > 0, np.inf, 1.0))
    top = np.argmax(arr, axis=1)
    top_share = share[np.arange(arr.shape[0]), top]
    js = np.full(arr.shape[0], np.nan)
    ok = n > 0
    if ok.any():
        js[ok] = js_divergence(arr[ok], ref2, smoothing=smoothing, base=base)
    out = pd.DataFrame(
        {
            "n": n.astype(np.int64),
            "entropy": h,
            "baseline_entropy": h0,
            "entropy_ratio": ratio,
            "js": js,
            "top_label": np.asarray(cols, dtype=object)[top],
            "top_share": top_share,
            "collapsed": ok & ((ratio < min_entropy_ratio) | (top_share > max_share)),
        },
        index=idx,
    )
    return out


# ---------------------------------------------------------------- diversity of texts
_TOKEN = re.compile(r"\w+", re.UNICODE)


def _texts(texts) -> list[str]:
    a = _objects(texts, "texts")
    return ["" if m else str(t) for t, m in zip(a, _missing(a), strict=True)]


def lexical_diversity(texts) -> dict:
    """Distinct-n and type-token ratio of a set of texts.

    Tokens are lower-cased ``\\w+`` runs; n-grams do not cross text boundaries.

    Parameters
    ----------
    texts : array-like of str, shape (n,)
        Missing texts count as empty.

    Returns
    -------
    dict
        ``distinct_1``, ``distinct_2``: unique n-grams / all n-grams over the whole set (NaN when
        there is none); ``type_token_ratio``: unique tokens / tokens, averaged over texts with at
        least one token (per-text, so long texts are not penalized by length); ``n_tokens``.

    Examples
    --------
    >>> d = lexical_diversity(["the cat sat", "the cat ran"])
    >>> round(d["distinct_1"], 3), d["distinct_2"], d["type_token_ratio"]
    (0.667, 0.75, 1.0)
    """
    toks = [_TOKEN.findall(t.lower()) for t in _texts(texts)]
    uni = [w for t in toks for w in t]
    bi = [(t[i], t[i + 1]) for t in toks for i in range(len(t) - 1)]
    ttr = [len(set(t)) / len(t) for t in toks if t]
    return {
        "distinct_1": len(set(uni)) / len(uni) if uni else float("nan"),
        "distinct_2": len(set(bi)) / len(bi) if bi else float("nan"),
        "type_token_ratio": float(np.mean(ttr)) if ttr else float("nan"),
        "n_tokens": len(uni),
    }


_WORD = re.compile(r"(?u)\b\w+\b")


def _tfidf(texts: list[str]) -> tuple[np.ndarray, np.ndarray] | None:
    """The nonzero cells of scikit-learn's TfidfVectorizer(token_pattern=r"(?u)\\b\\w+\\b") matrix
    (lowercased words, raw counts, smooth idf ln((1 + n) / (1 + df)) + 1, rows L2-normalized), as
    (term index, value) in numpy: the same numbers without importing scikit-learn (~1 s cold).
    None when no text has a word."""
    vocab: dict[str, int] = {}
    docs, terms = [], []
    for d, text in enumerate(texts):
        for w in _WORD.findall(text.lower()):
            terms.append(vocab.setdefault(w, len(vocab)))
            docs.append(d)
    if not vocab:
        return None
    v = len(vocab)
    keys, tf = np.unique(np.asarray(docs, np.int64) * v + np.asarray(terms, np.int64), return_counts=True)
    doc, term = np.divmod(keys, v)
    df = np.bincount(term, minlength=v).astype(float)
    idf = np.log((len(texts) + 1) / (df + 1)) + 1
    x = tf * idf[term]
    x = x / np.sqrt(np.bincount(doc, weights=x * x))[doc]
    return term, x


def semantic_diversity(texts, *, max_items: int = 2000, seed: int = 0) -> dict:
    """Mean pairwise cosine distance between TF-IDF vectors of texts.

    Parameters
    ----------
    texts : array-like of str, shape (n,)
    max_items : int
        Above this many texts, a seeded random subset of ``max_items`` is used.
    seed : int
        Seed of the subsample.

    Returns
    -------
    dict
        ``mean_cosine_distance`` (1 - mean cosine similarity over all pairs i < j; texts without a
        vocabulary word have similarity 0 to everything), ``n_used``.

    Notes
    -----
    Rows of the TF-IDF matrix are L2-normalized, so the sum of all pairwise similarities is
    ``||sum of rows||^2 - sum of ||row||^2``: O(n) instead of O(n^2).

    Examples
    --------
    >>> round(semantic_diversity(["a cat", "a cat", "a cat"])["mean_cosine_distance"], 9)
    0.0
    >>> semantic_diversity(["red apple", "blue sky"])["mean_cosine_distance"]
    1.0
    """
    t = _texts(texts)
    if isinstance(max_items, bool) or not isinstance(max_items, (int, np.integer)) or max_items < 2:
        raise ValueError(f"max_items must be an integer >= 2, got {max_items!r}")
    if len(t) < 2:
        raise ValueError("need at least two texts")
    if len(t) > max_items:
        idx = np.random.default_rng(int(seed)).choice(len(t), size=max_items, replace=False)
        t = [t[i] for i in np.sort(idx)]
    n = len(t)
    tfidf = _tfidf(t)
    if tfidf is None:  # empty vocabulary
        return {"mean_cosine_distance": 1.0, "n_used": n}
    term, x = tfidf
    s = np.bincount(term, weights=x)
    sq = float(x @ x)
    mean_sim = (float(s @ s) - sq) / (n * (n - 1))
    return {"mean_cosine_distance": float(min(max(1.0 - mean_sim, 0.0), 1.0)) + 0.0, "n_used": n}
