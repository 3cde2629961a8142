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

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "MISSING_STRATUM",
    "ErrorPredictor",
    "allocate",
    "disagreement_rate",
    "fit_error_predictor",
    "sample_entropy",
    "score_error_predictor",
    "select_disagreement",
    "select_high_entropy",
    "select_low_confidence",
    "stratified_sample",
    "stratified_split",
    "top_k",
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


def stratified_split(strata, shares, *, seed=0) -> np.ndarray:
    """Split items into parts (e.g. train / dev / test) of given shares, stratified.

    Every stratum is shuffled (seeded), the strata are laid end to end, and each item in turn
    goes to the part furthest below its quota (``share * items so far - items given``; ties to
    the first part). Every part therefore gets its share of every stratum up to one item, and
    its share of all items up to one item.

    Parameters
    ----------
    strata : array-like, shape (n_items,)
        Stratum of every item (e.g. its gold label, or label and a metadata value); None and
        NaN form one stratum. Strata are taken in order of first appearance, so pass the items
        in a fixed order (e.g. sorted by id) for a reproducible split.
    shares : sequence of float, shape (n_parts,)
        Positive shares summing to 1.
    seed : int or numpy.random.Generator
        Source of randomness; the same seed and input give the same split.

    Returns
    -------
    parts : ndarray of int64, shape (n_items,)
        The part (index into ``shares``) of every item.

    Raises
    ------
    ValueError
        Shares that are not positive or do not sum to 1, a bad seed.

    Examples
    --------
    >>> strata = ["yes"] * 10 + ["no"] * 5
    >>> parts = stratified_split(strata, [0.2, 0.4, 0.4], seed=3)
    >>> np.bincount(parts).tolist(), np.bincount(parts[:10]).tolist(), np.bincount(parts[10:]).tolist()
    ([3, 6, 6], [2, 4, 4], [1, 2, 2])
    """
    share = np.asarray(shares, dtype=np.float64)
    if share.ndim != 1 or share.size < 1 or not np.all(np.isfinite(share)) or np.any(share <= 0):
        raise ValueError(f"shares must be positive numbers, got {list(np.atleast_1d(shares))}")
    if abs(share.sum() - 1.0) > 1e-9:
        raise ValueError(f"shares must sum to 1, got {share.sum():g}")
    codes, _names = _factorize_strata(strata)
    rng = _rng(seed)
    order = np.lexsort((rng.random(codes.size), codes))
    given = np.zeros(share.size)
    parts = np.empty(codes.size, dtype=np.int64)
    for i, item in enumerate(order):
        j = int(np.argmax(share * (i + 1) - given - 1e-12 * np.arange(share.size)))
        given[j] += 1
        parts[item] = j
    return parts


# ---------------------------------------------------------------- active selection
def top_k(scores, k) -> np.ndarray:
    """Positions of the ``k`` highest scores, best first (ties: earlier position first).

    Parameters
    ----------
    scores : array-like of float, shape (n_items,)
        Higher means "label this first". NaN is not allowed.
    k : int
        How many to return; capped at ``n_items``.

    Returns
    -------
    indices : ndarray of int64, shape (min(k, n_items),)

    Examples
    --------
    >>> top_k([0.1, 0.9, 0.5, 0.9], 3).tolist()
    [1, 3, 2]
    """
    s = np.asarray(scores, dtype=float)
    if s.ndim != 1:
        raise ValueError(f"scores must be one-dimensional, got shape {s.shape}")
    if np.isnan(s).any():
        raise ValueError("scores contain NaN; drop or impute those items first")
    k = min(_check_size(k, "k"), s.size)
    return np.argsort(-s, kind="stable")[:k].astype(np.int64)


def select_low_confidence(confidence, k) -> np.ndarray:
    """The ``k`` items whose labeler confidence is lowest, least confident first.

    Parameters
    ----------
    confidence : array-like of float, shape (n_items,)
        Confidence of the labeler in its chosen label, in [0, 1].
    k : int
        Number of items to return (capped at ``n_items``).

    Returns
    -------
    indices : ndarray of int64, shape (min(k, n_items),)
        Ties are broken by position.

    Examples
    --------
    >>> select_low_confidence([0.9, 0.55, 0.7, 0.51], 2).tolist()
    [3, 1]
    """
    c = np.asarray(confidence, dtype=float)
    if c.ndim != 1:
        raise ValueError(f"confidence must be one-dimensional, got shape {c.shape}")
    if np.isnan(c).any():
        raise ValueError("confidence contains NaN")
    if np.any((c < 0) | (c > 1)):
        raise ValueError("confidence must lie in [0, 1]")
    return top_k(-c, k)


def _label_matrix(labels, name: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Codes (n_items, m) with -1 for missing, plus the non-missing mask and number of codes."""
    if isinstance(labels, pd.DataFrame):
        arr = labels.to_numpy(dtype=object)
    else:
        arr = np.asarray(labels, dtype=object)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be two-dimensional (n_items, n_columns), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty")
    codes, uniques = pd.factorize(pd.Series(arr.ravel(), dtype=object), use_na_sentinel=True)
    codes = codes.reshape(arr.shape)
    return codes, codes >= 0, max(len(uniques), 1)


def _row_counts(codes: np.ndarray, n_codes: int) -> np.ndarray:
    n = codes.shape[0]
    rows = np.repeat(np.arange(n), codes.shape[1])
    flat = codes.ravel()
    ok = flat >= 0
    return np.bincount(rows[ok] * n_codes + flat[ok], minlength=n * n_codes).reshape(n, n_codes)


def sample_entropy(samples, *, base: float = 2.0) -> np.ndarray:
    """Entropy of the empirical label distribution of repeated samples, per item.

    Parameters
    ----------
    samples : array-like or DataFrame, shape (n_items, n_samples)
        Labels from ``n_samples`` independent samplings of the labeler for each item. Missing
        samples (None/NaN) are ignored; an item with no sample gets NaN.
    base : float
        Logarithm base (2 gives bits).

    Returns
    -------
    entropy : ndarray of float, shape (n_items,)

    Examples
    --------
    >>> sample_entropy([["a", "a", "a", "a"], ["a", "b", "a", "b"]]).tolist()
    [0.0, 1.0]
    """
    codes, _, n_codes = _label_matrix(samples, "samples")
    counts = _row_counts(codes, n_codes).astype(float)
    tot = counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = counts / tot
        h = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1) / np.log(base)
    h[tot[:, 0] == 0] = np.nan
    return h + 0.0


def select_high_entropy(samples, k, *, base: float = 2.0) -> np.ndarray:
    """The ``k`` items whose repeated samples disagree most (highest :func:`sample_entropy`).

    Items without any sample are ranked last.

    Parameters
    ----------
    samples : array-like or DataFrame, shape (n_items, n_samples)
    k : int

    Returns
    -------
    indices : ndarray of int64, shape (min(k, n_items),)

    Examples
    --------
    >>> select_high_entropy([[1, 1, 1], [1, 2, 3], [1, 2, 2]], 2).tolist()
    [1, 2]
    """
    h = sample_entropy(samples, base=base)
    return top_k(np.nan_to_num(h, nan=-1.0), k)


def disagreement_rate(labels) -> np.ndarray:
    """Share of labelers that do not give the item's plurality label.

    Parameters
    ----------
    labels : array-like or DataFrame, shape (n_items, n_labelers)
        One column per labeler (LLMs of different families, or people). Missing labels are
        ignored; an item with no label gets NaN.

    Returns
    -------
    rate : ndarray of float, shape (n_items,)
        ``1 - (count of the most common label) / (number of labels)``: 0 when all agree.

    Examples
    --------
    >>> disagreement_rate([["x", "x", "x"], ["x", "y", None], ["x", "y", "z"]]).round(3).tolist()
    [0.0, 0.5, 0.667]
    """
    codes, _, n_codes = _label_matrix(labels, "labels")
    counts = _row_counts(codes, n_codes)
    tot = counts.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = 1.0 - counts.max(axis=1) / tot
    return np.where(tot > 0, rate, np.nan)


def select_disagreement(labels, k) -> np.ndarray:
    """The ``k`` items on which labelers disagree most (:func:`disagreement_rate`).

    Ties are broken by the entropy of the labels, then by position; items without labels rank
    last.

    Parameters
    ----------
    labels : array-like or DataFrame, shape (n_items, n_labelers)
    k : int

    Returns
    -------
    indices : ndarray of int64, shape (min(k, n_items),)

    Examples
    --------
    >>> select_disagreement([["a", "a", "a"], ["a", "b", "c"], ["a", "a", "b"]], 2).tolist()
    [1, 2]
    """
    rate = np.nan_to_num(disagreement_rate(labels), nan=-1.0)
    ent = np.nan_to_num(sample_entropy(labels), nan=-1.0)
    k = min(_check_size(k, "k"), rate.size)
    return np.lexsort((np.arange(rate.size), -ent, -rate))[:k].astype(np.int64)


# ---------------------------------------------------------------- learned error predictor
@dataclass(frozen=True)
class ErrorPredictor:
    """A fitted model of where a labeler disagrees with gold.

    Attributes
    ----------
    model : sklearn Pipeline
        Column transformer (numeric: median-imputed and standardized; categorical: one-hot with
        unknown categories ignored; text: TF-IDF of words and bigrams) and a logistic regression.
    numeric, categorical, text : tuple of str
        The columns used, by role.
    cv_auroc : float
        AUROC of the out-of-fold predicted error probabilities, pooled over folds (each item scored
        by the model fitted without its fold).
    fold_auroc : tuple of float
        AUROC within each fold.
    n : int
        Number of items the model was fitted on.
    n_errors : int
        How many of them were errors.
    oof_proba : ndarray of float, shape (n,)
        The out-of-fold predicted error probability of each item it was fitted on (scored by the
        model fitted without the item's fold), for filtering those same items without leakage.
    """

    model: object = field(repr=False)
    numeric: tuple
    categorical: tuple
    text: tuple
    cv_auroc: float
    fold_auroc: tuple
    n: int
    n_errors: int
    oof_proba: np.ndarray = field(default=None, repr=False, compare=False)


def _prepare_features(X: pd.DataFrame, numeric, categorical, text) -> pd.DataFrame:
    out = pd.DataFrame(index=pd.RangeIndex(len(X)))
    for c in numeric:
        col = pd.to_numeric(X[c].reset_index(drop=True), errors="coerce").astype(float)
        out[c] = np.where(np.isinf(col), np.nan, col)
    for c in categorical:
        out[c] = X[c].reset_index(drop=True).astype(object).where(X[c].notna().to_numpy(), "missing")
        out[c] = out[c].astype(str)
    for c in text:
        out[c] = X[c].reset_index(drop=True).astype(object).where(X[c].notna().to_numpy(), "").astype(str)
    return out


def _roles(X: pd.DataFrame, numeric, categorical, text) -> tuple[tuple, tuple, tuple]:
    if not isinstance(X, pd.DataFrame):
        raise ValueError("features must be a pandas DataFrame with one row per item")
    text = tuple([text] if isinstance(text, str) else (text or ()))
    given = set(text) | set(numeric or ()) | set(categorical or ())
    missing = [c for c in given if c not in X.columns]
    if missing:
        raise ValueError(f"columns not found in features: {sorted(missing)}")
    if numeric is None:
        numeric = [
            c
            for c in X.columns
            if c not in given and pd.api.types.is_numeric_dtype(X[c]) and not pd.api.types.is_bool_dtype(X[c])
        ]
    if categorical is None:
        categorical = [c for c in X.columns if c not in given and c not in numeric]
    numeric, categorical = tuple(numeric), tuple(categorical)
    if not (numeric or categorical or text):
        raise ValueError("features has no usable columns")
    return numeric, categorical, text


def _build_pipeline(numeric, categorical, text, *, C: float, max_text_features: int):
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    parts = []
    if numeric:
        parts.append(
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), list(numeric))
        )
    if categorical:
        parts.append(("cat", OneHotEncoder(handle_unknown="ignore"), list(categorical)))
    for c in text:
        vec = TfidfVectorizer(ngram_range=(1, 2), min_df=1, max_features=max_text_features, sublinear_tf=True)
        parts.append((f"text_{c}", vec, c))
    ct = ColumnTransformer(parts, sparse_threshold=1.0)
    clf = LogisticRegression(C=C, class_weight="balanced", max_iter=2000)
    return Pipeline([("features", ct), ("clf", clf)])


def fit_error_predictor(
    features,
    is_error,
    *,
    text=None,
    numeric=None,
    categorical=None,
    n_splits: int = 5,
    seed: int = 0,
    C: float = 1.0,
    max_text_features: int = 5000,
) -> ErrorPredictor:
    """Learn where a labeler disagrees with gold, with a cross-validated AUROC.

    Parameters
    ----------
    features : DataFrame, shape (n_items, n_columns)
        Item features of gold items.
    is_error : array-like of bool, shape (n_items,)
        Whether the labeler's label differs from the gold label (e.g. ``y_llm != y_human``, or
        ``abs(diff) >= 1`` for an ordinal scale).
    text : str or list of str, optional
        Free-text columns, turned into TF-IDF features (words and bigrams).
    numeric, categorical : list of str, optional
        Column roles. By default every remaining numeric (non-bool) column is numeric and every
        other remaining column is categorical.
    n_splits : int
        Folds of the stratified k-fold used for the AUROC (shuffled with ``seed``).
    seed : int
        Seed of the fold assignment.
    C : float
        Inverse L2 regularization strength of the logistic regression (class-balanced weights).
    max_text_features : int
        Vocabulary cap of each TF-IDF vectorizer.

    Returns
    -------
    ErrorPredictor
        Fitted on all items; ``cv_auroc`` is the pooled out-of-fold AUROC. Score new items with
        :func:`score_error_predictor`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"length": rng.normal(size=200), "domain": rng.choice(["a", "b"], 200)})
    >>> err = (X["length"] + rng.normal(scale=0.5, size=200)) > 1
    >>> pred = fit_error_predictor(X, err, seed=0)
    >>> pred.cv_auroc > 0.8
    True
    >>> score_error_predictor(pred, X.head(3)).shape
    (3,)
    """
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    numeric, categorical, text = _roles(features, numeric, categorical, text)
    y = np.asarray(is_error)
    if y.ndim != 1 or y.size != len(features):
        raise ValueError(
            f"is_error must be one-dimensional with one entry per row of features "
            f"({len(features)}), got shape {y.shape}"
        )
    if pd.isna(pd.Series(y, dtype=object)).any():
        raise ValueError("is_error contains missing values")
    if not np.isin(y, [0, 1, True, False]).all():
        raise ValueError("is_error must be boolean (or 0/1)")
    y = y.astype(bool).astype(int)
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        raise ValueError("is_error has only one class: need both errors and non-errors to learn from")
    if isinstance(n_splits, bool) or not isinstance(n_splits, (int, np.integer)) or n_splits < 2:
        raise ValueError(f"n_splits must be an integer >= 2, got {n_splits!r}")
    if min(n_pos, y.size - n_pos) < n_splits:
        raise ValueError(
            f"need at least n_splits={n_splits} errors and non-errors, got {n_pos} and {y.size - n_pos}"
        )
    Xp = _prepare_features(features, numeric, categorical, text)
    oof = np.empty(y.size)
    fold_auc = []
    skf = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=int(seed))
    for train, test in skf.split(np.zeros(y.size), y):
        m = _build_pipeline(numeric, categorical, text, C=C, max_text_features=max_text_features)
        m.fit(Xp.iloc[train], y[train])
        oof[test] = m.predict_proba(Xp.iloc[test])[:, 1]
        fold_auc.append(float(roc_auc_score(y[test], oof[test])))
    model = _build_pipeline(numeric, categorical, text, C=C, max_text_features=max_text_features)
    model.fit(Xp, y)
    return ErrorPredictor(
        model=model,
        numeric=numeric,
        categorical=categorical,
        text=text,
        cv_auroc=float(roc_auc_score(y, oof)),
        fold_auroc=tuple(fold_auc),
        n=int(y.size),
        n_errors=n_pos,
        oof_proba=oof,
    )


def score_error_predictor(predictor: ErrorPredictor, features) -> np.ndarray:
    """Predicted probability that the labeler errs on each item.

    Parameters
    ----------
    predictor : ErrorPredictor
        From :func:`fit_error_predictor`.
    features : DataFrame, shape (n_items, n_columns)
        Must hold the columns the predictor was fitted on; unseen categories are ignored.

    Returns
    -------
    proba : ndarray of float, shape (n_items,)
        Use ``top_k(proba, k)`` to route the likeliest errors to people first. The scale is that of
        a class-balanced model: rank by it, do not read it as a calibrated error rate.

    Examples
    --------
    >>> X = pd.DataFrame({"x": np.r_[np.zeros(20), np.ones(20)]})
    >>> p = fit_error_predictor(X, X["x"] > 0)
    >>> score_error_predictor(p, pd.DataFrame({"x": [0.0, 1.0]})).round(1).tolist()
    [0.1, 0.9]
    """
    if not isinstance(predictor, ErrorPredictor):
        raise ValueError("predictor must be an ErrorPredictor from fit_error_predictor")
    if not isinstance(features, pd.DataFrame):
        raise ValueError("features must be a pandas DataFrame")
    cols = predictor.numeric + predictor.categorical + predictor.text
    missing = [c for c in cols if c not in features.columns]
    if missing:
        raise ValueError(f"columns not found in features: {missing}")
    if len(features) == 0:
        return np.zeros(0)
    Xp = _prepare_features(features, predictor.numeric, predictor.categorical, predictor.text)
    return predictor.model.predict_proba(Xp)[:, 1]
