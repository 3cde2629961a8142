"""Student preview: what a small model would learn from a set of labels, before anyone trains it.

Students trained on LLM labels are less accurate than students trained on people's labels, less
stable across training runs, plateau earlier as labels are added, and lose most on minority
classes (Lu & Smith 2025, "Feeding LLM Annotations to BERT Classifiers at Your Own Risk"). This
module measures that cheaply with a *proxy* student: TF-IDF of words and character n-grams and a
class-weighted logistic regression.

Each **arm** is one source of training labels (gold, an LLM's labels, corrected labels, a mix, a
filtered subset). Every arm is scored only against gold items it never trained on: the gold items
are split once into folds (stratified by gold, seeded), the same folds for every arm, and for fold
k every arm trains only on items outside fold k -- its gold labels, its LLM labels, and the error
predictor of a filtering arm included.

A **seed** is one bootstrap resample of an arm's training rows (as if the labeled set had been
drawn again): a convex student fitted twice on the same rows gives the same model, so stability
across seeds is measured the way it shows in practice, through the data. Point estimates are the
mean over seeds; intervals are percentile bootstraps over the evaluation items, one resample matrix
shared by every arm, so differences between arms are paired.

A proxy student is not the real one: a fine-tuned transformer learns more from the text and may
resist label noise differently. The preview ranks label sources and flags their failure modes; it
does not predict the real student's score.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from qc.agreement import _prf_from_cm
from qc.estimate import Estimate
from qc.krippendorff import krippendorff_alpha
from qc.sampling import fit_error_predictor, score_error_predictor

__all__ = ["Arm", "ArmResult", "CurvePoint", "StudentPreview", "student_preview", "describe_findings"]

DEFAULT_CURVE = (0.1, 0.2, 0.4, 0.7, 1.0)


@dataclass(frozen=True)
class Arm:
    """One source of training labels for the proxy student.

    Attributes
    ----------
    name : str
        Shown in tables and findings.
    labels : array-like, shape (n_items,)
        The training label of each item; None/NaN where this arm has no label.
    weights : array-like of float, shape (n_items,), optional
        Sample weight of each labeled item (e.g. the export's human weights).
    keep_score : array-like of float, shape (n_items,), optional
        With ``retention`` < 1: keep the training rows with the highest score (e.g. the labeler's
        confidence, or minus the sample entropy).
    error_filter : bool
        With ``retention`` < 1: keep the rows that the learned error predictor
        (:func:`qc.sampling.fit_error_predictor`, fitted inside each fold on that fold's training
        gold only, cross-fitted on those items) finds least likely to be wrong.
    retention : float
        Share of the arm's training rows kept by a filter, in (0, 1].
    base : str, optional
        For a filtered arm: the name of the unfiltered arm it filters, so the preview reports how
        much of that arm's loss the filter recovers (``gain_over_base``).
    """

    name: str
    labels: object = field(repr=False, compare=False)
    weights: object = field(default=None, repr=False, compare=False)
    keep_score: object = field(default=None, repr=False, compare=False)
    error_filter: bool = False
    retention: float = 1.0
    base: str | None = None


@dataclass(frozen=True)
class CurvePoint:
    """Macro-F1 of an arm trained on a share of its training rows."""

    fraction: float
    n_train: float          # mean training rows per fold
    macro_f1: Estimate


@dataclass(frozen=True)
class ArmResult:
    """What the students of one arm scored on the gold items they never trained on.

    ``accuracy``, ``macro_f1`` and ``recall`` (per class) are means over seeds with a bootstrap CI
    over the evaluation items. ``stability_alpha`` is Krippendorff's alpha (nominal) of the seeds'
    predictions on the evaluation items (seeds as raters); ``accuracy_sd`` and ``macro_f1_sd`` are
    the standard deviations over seeds. ``f1_loss`` is the reference arm's macro-F1 minus this
    arm's (paired), ``minority_recall_ratio`` this arm's minority recall over the reference's.
    ``plateau`` is the slope of macro-F1 per unit of training share over the last curve segment,
    with a CI: the curve has plateaued when that CI covers zero.
    """

    name: str
    evaluable: bool
    note: str
    n_train: float                      # mean training rows per fold (after filtering)
    n_removed: float                    # mean rows per fold a filter removed
    accuracy: Estimate | None
    macro_f1: Estimate | None
    recall: dict                        # class -> Estimate
    f1: dict                            # class -> Estimate (one-vs-rest F1 of each gold class)
    stability_alpha: float
    accuracy_sd: float
    macro_f1_sd: float
    f1_loss: Estimate | None
    minority_recall_ratio: Estimate | None
    curve: tuple = ()                   # CurvePoint, by fraction
    plateau: Estimate | None = None
    base: str | None = None
    gain_over_base: Estimate | None = None   # macro-F1 minus the base arm's (paired)
    predictions: object = field(default=None, repr=False, compare=False)  # (n_seeds, n_eval) labels

    @property
    def plateaued(self) -> bool | None:
        """Whether the last curve segment's slope is indistinguishable from zero (None: no curve)."""
        if self.plateau is None or math.isnan(self.plateau.ci_low):
            return None
        return bool(self.plateau.ci_low <= 0.0 <= self.plateau.ci_high)

    def to_dict(self) -> dict:
        def est(e):
            return None if e is None else e.to_dict()

        return {
            "name": self.name, "evaluable": self.evaluable, "note": self.note,
            "n_train": self.n_train, "n_removed": self.n_removed,
            "accuracy": est(self.accuracy), "macro_f1": est(self.macro_f1),
            "recall": {str(k): est(v) for k, v in self.recall.items()},
            "f1": {str(k): est(v) for k, v in self.f1.items()},
            "stability_alpha": _nan_none(self.stability_alpha),
            "accuracy_sd": _nan_none(self.accuracy_sd), "macro_f1_sd": _nan_none(self.macro_f1_sd),
            "f1_loss": est(self.f1_loss), "minority_recall_ratio": est(self.minority_recall_ratio),
            "curve": [{"fraction": p.fraction, "n_train": p.n_train, "macro_f1": p.macro_f1.to_dict()}
                      for p in self.curve],
            "plateau": est(self.plateau), "plateaued": self.plateaued,
            "base": self.base, "gain_over_base": est(self.gain_over_base),
        }


@dataclass(frozen=True)
class StudentPreview:
    """The preview of every arm, with the setup it was measured under."""

    arms: tuple                         # ArmResult, in the order given
    classes: tuple
    minority: object                    # the gold class with the smallest share
    reference: str
    n_eval: int                         # gold items scored (each by the students of its fold)
    n_folds: int
    n_seeds: int
    curve: tuple
    eval_items: object = field(default=None, repr=False, compare=False)  # item index of each prediction
    eval_folds: object = field(default=None, repr=False, compare=False)  # the fold that scores each one

    def arm(self, name: str) -> ArmResult:
        for a in self.arms:
            if a.name == name:
                return a
        raise KeyError(name)

    def table(self) -> pd.DataFrame:
        """One row per arm: the headline numbers with their CIs (for a page or a report)."""
        rows = []
        for a in self.arms:
            rec = a.recall.get(self.minority)
            rows.append({
                "arm": a.name, "evaluable": a.evaluable, "n_train": a.n_train, "n_removed": a.n_removed,
                **_est_cols("accuracy", a.accuracy), **_est_cols("macro_f1", a.macro_f1),
                **_est_cols("minority_recall", rec), **_est_cols("f1_loss", a.f1_loss),
                "stability_alpha": a.stability_alpha, "macro_f1_sd": a.macro_f1_sd, "note": a.note,
            })
        return pd.DataFrame(rows)

    def to_dict(self) -> dict:
        return {
            "classes": [str(c) for c in self.classes], "minority": str(self.minority),
            "reference": self.reference, "n_eval": self.n_eval, "n_folds": self.n_folds,
            "n_seeds": self.n_seeds, "curve": list(self.curve),
            "arms": [a.to_dict() for a in self.arms],
            "findings": describe_findings(self),
        }


def _nan_none(v):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def _est_cols(name: str, e: Estimate | None) -> dict:
    if e is None:
        return {name: np.nan, f"{name}_ci_low": np.nan, f"{name}_ci_high": np.nan}
    return {name: e.estimate, f"{name}_ci_low": e.ci_low, f"{name}_ci_high": e.ci_high}


# ------------------------------------------------------------------------------ inputs


def _labels_1d(x, n: int, name: str) -> np.ndarray:
    arr = np.asarray(x.to_numpy() if isinstance(x, (pd.Series, pd.Index)) else x, dtype=object)
    if arr.ndim != 1 or arr.size != n:
        raise ValueError(f"{name} must be one-dimensional with one entry per item ({n}), got shape {arr.shape}")
    missing = pd.isna(pd.Series(arr, dtype=object)).to_numpy()
    out = np.array([None if m else str(v) for v, m in zip(arr, missing, strict=True)], dtype=object)
    return out


def _floats_1d(x, n: int, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 1 or arr.size != n:
        raise ValueError(f"{name} must be one-dimensional with one entry per item ({n}), got shape {arr.shape}")
    return arr


def _check_arm(arm: Arm, n: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    if not isinstance(arm, Arm):
        raise ValueError(f"arms must be qc.student.Arm objects, got {type(arm).__name__}")
    labels = _labels_1d(arm.labels, n, f"arm {arm.name!r} labels")
    weights = None if arm.weights is None else _floats_1d(arm.weights, n, f"arm {arm.name!r} weights")
    if weights is not None and (np.isnan(weights[labels != None]).any() or (weights < 0).any()):  # noqa: E711
        raise ValueError(f"arm {arm.name!r} weights must be non-negative numbers where it has labels")
    keep = None if arm.keep_score is None else _floats_1d(arm.keep_score, n, f"arm {arm.name!r} keep_score")
    if not 0 < arm.retention <= 1:
        raise ValueError(f"arm {arm.name!r} retention must be in (0, 1], got {arm.retention!r}")
    if arm.retention < 1 and keep is None and not arm.error_filter:
        raise ValueError(f"arm {arm.name!r} has retention < 1 but neither keep_score nor error_filter")
    if arm.error_filter and keep is not None:
        raise ValueError(f"arm {arm.name!r}: give keep_score or error_filter, not both")
    return labels, weights, keep


# ----------------------------------------------------------------------------- features


def _vectorizer(max_features: int):
    """The student's TF-IDF as scikit-learn pipes it (the naive baseline and the reference of _Featurizer)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion([
        ("words", TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=max_features, sublinear_tf=True)),
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=2, max_features=max_features,
                                  sublinear_tf=True)),
    ])


class _Featurizer:
    """_vectorizer's TF-IDF per fold, with the texts analyzed once for every fold.

    Tokenizing is most of a TF-IDF fit's cost (character n-grams above all). The n-gram counts of
    every text are taken once; each fold then picks its vocabulary (in at least 2 of the fold's
    training texts, the `max_features` most frequent there) and its IDF from its
    training rows only, as TfidfVectorizer fitted on those rows would (sublinear TF, smooth IDF,
    each block L2-normalized), so no evaluation text shapes the features it is scored with.
    """

    def __init__(self, texts: list[str], max_features: int):
        from sklearn.feature_extraction.text import CountVectorizer

        self.max_features = max_features
        self.blocks = [CountVectorizer(ngram_range=(1, 2)).fit_transform(texts).tocsc(),
                       CountVectorizer(analyzer="char_wb", ngram_range=(3, 5)).fit_transform(texts).tocsc()]

    def fold(self, train_rows: np.ndarray):
        import scipy.sparse as sp

        return sp.hstack([self._block(c, train_rows) for c in self.blocks], format="csr")

    def _block(self, counts, train_rows: np.ndarray):
        import scipy.sparse as sp

        train = counts[train_rows]
        df = np.diff((train > 0).tocsc().indptr)            # documents of the fold holding each n-gram
        tf = np.asarray(train.sum(axis=0)).ravel()
        cols = np.flatnonzero(df >= 2)
        if cols.size > self.max_features:   # the most frequent, ties broken as scikit-learn's _limit_features does
            cols = np.sort(cols[np.argsort(-tf[cols])[:self.max_features]])
        X = counts[:, cols].tocsr().astype(float)
        X.data = 1.0 + np.log(X.data)
        idf = np.log((1.0 + train_rows.size) / (1.0 + df[cols])) + 1.0
        X = X @ sp.diags(idf)
        norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
        return sp.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ X


class _Student:
    """Class-weighted logistic regression that survives one-class training sets.

    liblinear's dual solver: with more features than rows (TF-IDF), it fits 10-30x faster than
    lbfgs to the same optimum. liblinear is binary only, so more than two classes are fitted one
    against the rest and predicted by the largest decision value.
    """

    def __init__(self, C: float):
        self.C = C
        self.models = []
        self.classes = None
        self.constant = None

    def fit(self, X, y: np.ndarray, w: np.ndarray, n_classes: int):
        from sklearn.linear_model import LogisticRegression

        present = np.unique(y)
        if present.size < 2:
            self.constant, self.models = (int(present[0]) if present.size else 0), []
            return self
        # class-balanced weights on top of the sample weights (bootstrap counts, export weights)
        totals = np.bincount(y, weights=w, minlength=n_classes)
        cw = np.where(totals > 0, w.sum() / (present.size * np.maximum(totals, 1e-12)), 0.0)
        self.constant, self.classes = None, present
        targets = [y] if present.size == 2 else [(y == c).astype(np.int64) for c in present]
        self.models = [LogisticRegression(C=self.C, solver="liblinear", dual=True, max_iter=1000, tol=1e-4)
                       .fit(X, t, sample_weight=w * cw[y]) for t in targets]
        return self

    def predict(self, X) -> np.ndarray:
        if self.constant is not None:
            return np.full(X.shape[0], self.constant, dtype=np.int64)
        if len(self.models) == 1:
            return self.models[0].predict(X).astype(np.int64)
        scores = np.column_stack([m.decision_function(X) for m in self.models])
        return self.classes[np.argmax(scores, axis=1)].astype(np.int64)


# ------------------------------------------------------------------------- bootstrap


def _resample_weights(n: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(B, n) counts: how often each evaluation item is drawn in each resample."""
    idx = rng.integers(0, n, size=(n_resamples, n))
    flat = (idx + n * np.arange(n_resamples)[:, None]).ravel()
    return np.bincount(flat, minlength=n_resamples * n).reshape(n_resamples, n).astype(np.float64)


def _confusions(y: np.ndarray, pred: np.ndarray, K: int, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Confusion matrix of the full sample (K, K) and of each resample (B, K, K)."""
    onehot = np.zeros((y.size, K * K))
    onehot[np.arange(y.size), y * K + pred] = 1.0
    full = onehot.sum(axis=0).reshape(K, K)
    return full, (W @ onehot).reshape(-1, K, K)


def _scores(cm: np.ndarray, gold_classes: np.ndarray) -> dict[str, np.ndarray]:
    """accuracy, macro-F1 (over the gold classes) and per-class recall of (..., K, K) matrices."""
    with np.errstate(divide="ignore", invalid="ignore"):
        acc = np.trace(cm, axis1=-2, axis2=-1) / cm.sum(axis=(-2, -1))
    _, recall, f1 = _prf_from_cm(cm, 0.0)
    return {"accuracy": acc, "macro_f1": f1[..., gold_classes].mean(axis=-1), "recall": recall, "f1": f1}


def _estimate(point: float, dist: np.ndarray, level: float, n: int, method: str) -> Estimate:
    dist = dist[np.isfinite(dist)]
    if dist.size < 2 or not np.isfinite(point):
        return Estimate(float(point), np.nan, np.nan, n=n, method=method, level=level)
    lo, hi = np.quantile(dist, [(1 - level) / 2, (1 + level) / 2])
    return Estimate(float(point), float(lo), float(hi), n=n, method=method, level=level)


# ------------------------------------------------------------------------------ preview


def student_preview(
    texts,
    gold,
    arms: Sequence[Arm],
    *,
    reference: str | None = None,
    n_folds: int = 5,
    n_seeds: int = 5,
    curve: Sequence[float] = DEFAULT_CURVE,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    C: float = 4.0,
    max_features: int = 20000,
    on_fit: Callable[[str, int, int, float, np.ndarray], None] | None = None,
    n_jobs: int = 2,
) -> StudentPreview:
    """Train proxy students on each arm and score them on gold items they never trained on.

    Parameters
    ----------
    texts : sequence of str, shape (n_items,)
        The text of every item (gold and not).
    gold : array-like, shape (n_items,)
        The gold label of each item; None/NaN where it has none. Only gold items are scored.
    arms : sequence of Arm
        The label sources to compare (names unique).
    reference : str, optional
        The arm the others are compared with (``f1_loss``, ``minority_recall_ratio``); default the
        first arm.
    n_folds : int
        Folds of the stratified split of the gold items (each class needs ``n_folds`` items).
    n_seeds : int
        Bootstrap resamples of each arm's training rows (students per arm and fold); >= 2 for the
        stability numbers.
    curve : sequence of float in (0, 1]
        Shares of an arm's training rows for the learning curve; the largest must be 1.
    n_resamples, level : int, float
        Percentile bootstrap over the evaluation items.
    seed : int
        Seeds the folds, the training resamples, the curve subsets and the bootstrap.
    C : float
        Inverse L2 strength of the logistic regression.
    max_features : int
        Vocabulary cap of each TF-IDF (words 1-2, characters 3-5).
    n_jobs : int
        Threads that train students at once (the numbers do not depend on it).
    on_fit : callable, optional
        Called as ``on_fit(arm, fold, seed, fraction, rows)`` with the item indices of every
        student's training set (an audit hook: tests use it to prove no evaluation item leaks).

    Returns
    -------
    StudentPreview

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = np.where(rng.random(300) < 0.2, "rare", "common")
    >>> texts = [("stars comet orbit " if c == "rare" else "tax duty court ") + f"w{i % 7}" for i, c in enumerate(y)]
    >>> llm = np.where((y == "rare") & (rng.random(300) < 0.6), "common", y)
    >>> p = student_preview(texts, y, [Arm("gold", y), Arm("llm", llm)], n_seeds=2, curve=(1.0,),
    ...                     n_resamples=200)
    >>> p.minority
    'rare'
    >>> p.arm("gold").recall["rare"].estimate > p.arm("llm").recall["rare"].estimate
    True
    """
    texts = [("" if t is None or (isinstance(t, float) and math.isnan(t)) else str(t)) for t in texts]
    n = len(texts)
    gold = _labels_1d(gold, n, "gold")
    arms = list(arms)
    if not arms:
        raise ValueError("arms is empty: give at least one label source")
    names = [a.name for a in arms if isinstance(a, Arm)]
    if len(set(names)) != len(names):
        raise ValueError(f"arm names must be unique, got {names}")
    checked = [_check_arm(a, n) for a in arms]
    reference = arms[0].name if reference is None else reference
    if reference not in names:
        raise ValueError(f"reference {reference!r} is not one of the arms {names}")
    for a in arms:
        if a.base is not None and (a.base not in names or a.base == a.name):
            raise ValueError(f"arm {a.name!r}: base {a.base!r} must name another arm of {names}")
    if isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)) or n_folds < 2:
        raise ValueError(f"n_folds must be an integer >= 2, got {n_folds!r}")
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, (int, np.integer)) or n_seeds < 1:
        raise ValueError(f"n_seeds must be an integer >= 1, got {n_seeds!r}")
    curve = tuple(sorted({float(f) for f in curve}))
    if not curve or curve[0] <= 0 or curve[-1] != 1.0:
        raise ValueError(f"curve must be shares in (0, 1] ending with 1.0, got {curve}")

    is_gold = gold != None  # noqa: E711
    gold_idx = np.flatnonzero(is_gold)
    gold_values = gold[gold_idx]
    gold_classes_sorted = sorted(set(gold_values))
    if len(gold_classes_sorted) < 2:
        raise ValueError(f"gold needs at least two classes, got {gold_classes_sorted}")
    shares = pd.Series(gold_values).value_counts()
    too_few = shares[shares < n_folds]
    if len(too_few):
        raise ValueError(f"each gold class needs at least n_folds={n_folds} items; too few: {too_few.to_dict()}")
    arm_classes = {v for lab, _, _ in checked for v in lab if v is not None}
    classes = tuple(sorted(set(gold_classes_sorted) | arm_classes))
    code = {c: i for i, c in enumerate(classes)}
    K = len(classes)
    gold_class_codes = np.array([code[c] for c in gold_classes_sorted])
    minority = shares.sort_values(kind="stable").index[0]

    from sklearn.model_selection import StratifiedKFold

    rng = np.random.default_rng(seed)
    fold_of = np.full(n, -1)
    skf = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=int(rng.integers(2**31)))
    for k, (_, test) in enumerate(skf.split(np.zeros(gold_idx.size), gold_values)):
        fold_of[gold_idx[test]] = k
    y_eval = np.array([code[c] for c in gold_values])
    eval_pos = {i: j for j, i in enumerate(gold_idx)}

    n_frac = len(curve)
    preds = np.full((len(arms), n_frac, n_seeds, gold_idx.size), -1, dtype=np.int64)
    n_train = np.zeros((len(arms), n_folds))
    n_removed = np.zeros((len(arms), n_folds))
    notes: list[list[str]] = [[] for _ in arms]
    seed_base = int(rng.integers(2**31))

    def fit_seed(k, a, s, rows, y_rows, w_rows, X, eval_rows, eval_cols):
        srng = np.random.default_rng([seed_base, k, a, s])
        order = srng.permutation(rows.size)
        for f, frac in enumerate(curve):
            m = max(1, int(math.ceil(frac * rows.size)))
            sub = order[:m]
            counts = np.bincount(srng.integers(0, m, size=m), minlength=m).astype(float)
            used = sub[counts > 0]
            if on_fit is not None:
                on_fit(arms[a].name, k, s, frac, rows[used])
            student = _Student(C).fit(X[rows[used]], y_rows[used], w_rows[used] * counts[counts > 0], K)
            preds[a, f, s, eval_cols] = student.predict(X[eval_rows])

    features = _Featurizer(texts, max_features)
    for k in range(n_folds):
        jobs = []
        in_eval = fold_of == k
        pool = np.flatnonzero(~in_eval)
        X = features.fold(pool)
        eval_rows = np.flatnonzero(in_eval)
        eval_cols = np.array([eval_pos[i] for i in eval_rows])
        for a, (arm, (labels, weights, keep)) in enumerate(zip(arms, checked, strict=True)):
            rows = pool[labels[pool] != None]  # noqa: E711
            rows, note = _filter_rows(arm, rows, labels, keep, gold, is_gold, texts, seed_base + k)
            if note:
                notes[a].append(f"fold {k + 1}: {note}")
                continue
            n_removed[a, k] = np.sum(labels[pool] != None) - rows.size  # noqa: E711
            n_train[a, k] = rows.size
            if rows.size == 0:
                notes[a].append(f"fold {k + 1}: no training rows")
                continue
            y_rows = np.array([code[v] for v in labels[rows]])
            w_rows = np.ones(rows.size) if weights is None else weights[rows]
            jobs.extend((k, a, s, rows, y_rows, w_rows, X, eval_rows, eval_cols) for s in range(n_seeds))
        # liblinear releases the GIL: the students of one fold train in parallel threads, each writing
        # its own slice of `preds` from its own seeded generator (the result does not depend on n_jobs)
        with ThreadPoolExecutor(max_workers=n_jobs) as pool_:
            list(pool_.map(lambda job: fit_seed(*job), jobs))

    W = _resample_weights(gold_idx.size, n_resamples, np.random.default_rng([seed_base, 99]))
    method = f"percentile bootstrap over items (B={n_resamples}), mean of {n_seeds} seeds"
    stats = {}  # (arm, frac) -> (point dict, resample dict)
    for a in range(len(arms)):
        if notes[a] and not (preds[a] >= 0).all():
            continue
        for f in range(n_frac):
            pts, dist = [], []
            for s in range(n_seeds):
                full, boot = _confusions(y_eval, preds[a, f, s], K, W)
                pts.append(_scores(full, gold_class_codes))
                dist.append(_scores(boot, gold_class_codes))
            stats[a, f] = ({m: np.mean([p[m] for p in pts], axis=0) for m in pts[0]},
                           {m: np.mean([d[m] for d in dist], axis=0) for m in dist[0]},
                           pts)

    ref = names.index(reference)
    last = n_frac - 1
    results = []
    for a, arm in enumerate(arms):
        if (a, last) not in stats:
            results.append(ArmResult(
                name=arm.name, evaluable=False, note="; ".join(notes[a]) or "not evaluable",
                n_train=float(n_train[a].mean()), n_removed=float(n_removed[a].mean()),
                accuracy=None, macro_f1=None, recall={}, f1={}, stability_alpha=np.nan, accuracy_sd=np.nan,
                macro_f1_sd=np.nan, f1_loss=None, minority_recall_ratio=None))
            continue
        pt, dist, per_seed = stats[a, last]
        n_eval = int(gold_idx.size)
        recall = {c: _estimate(pt["recall"][code[c]], dist["recall"][:, code[c]], level, n_eval, method)
                  for c in gold_classes_sorted}
        f1 = {c: _estimate(pt["f1"][code[c]], dist["f1"][:, code[c]], level, n_eval, method)
              for c in gold_classes_sorted}
        f1_loss = ratio = None
        if (ref, last) in stats:
            rpt, rdist, _ = stats[ref, last]
            f1_loss = _estimate(rpt["macro_f1"] - pt["macro_f1"], rdist["macro_f1"] - dist["macro_f1"],
                                level, n_eval, method + ", paired")
            mc = code[minority]
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = _estimate(pt["recall"][mc] / rpt["recall"][mc], dist["recall"][:, mc] / rdist["recall"][:, mc],
                                  level, n_eval, method + ", paired")
        alpha = _stability(preds[a, last]) if n_seeds >= 2 else np.nan
        points, plateau = [], None
        for f, frac in enumerate(curve):
            if (a, f) in stats:
                fpt, fdist, _ = stats[a, f]
                n_f = float(np.mean([max(1, math.ceil(frac * r)) if r else 0 for r in n_train[a]]))
                points.append(CurvePoint(frac, n_f, _estimate(fpt["macro_f1"], fdist["macro_f1"], level, n_eval,
                                                              method)))
        if n_frac >= 2 and (a, last - 1) in stats:
            ppt, pdist, _ = stats[a, last - 1]
            width = curve[last] - curve[last - 1]
            plateau = _estimate((pt["macro_f1"] - ppt["macro_f1"]) / width,
                                (dist["macro_f1"] - pdist["macro_f1"]) / width, level, n_eval,
                                method + ", paired, slope per unit share")
        gain = None
        if arm.base is not None and (names.index(arm.base), last) in stats:
            bpt, bdist, _ = stats[names.index(arm.base), last]
            gain = _estimate(pt["macro_f1"] - bpt["macro_f1"], dist["macro_f1"] - bdist["macro_f1"], level, n_eval,
                             method + ", paired")
        results.append(ArmResult(
            base=arm.base, gain_over_base=gain,
            name=arm.name, evaluable=True, note="; ".join(notes[a]),
            n_train=float(n_train[a].mean()), n_removed=float(n_removed[a].mean()),
            accuracy=_estimate(pt["accuracy"], dist["accuracy"], level, n_eval, method),
            macro_f1=_estimate(pt["macro_f1"], dist["macro_f1"], level, n_eval, method),
            recall=recall, f1=f1, stability_alpha=float(alpha),
            accuracy_sd=float(np.std([p["accuracy"] for p in per_seed], ddof=1)) if n_seeds >= 2 else np.nan,
            macro_f1_sd=float(np.std([p["macro_f1"] for p in per_seed], ddof=1)) if n_seeds >= 2 else np.nan,
            f1_loss=f1_loss, minority_recall_ratio=ratio, curve=tuple(points), plateau=plateau,
            predictions=np.asarray(classes, dtype=object)[preds[a, last]]))
    return StudentPreview(arms=tuple(results), classes=classes, minority=minority, reference=reference,
                          n_eval=int(gold_idx.size), n_folds=n_folds, n_seeds=n_seeds, curve=curve,
                          eval_items=gold_idx, eval_folds=fold_of[gold_idx])


def _stability(preds: np.ndarray) -> float:
    """Krippendorff's alpha of the seeds' predictions (seeds x items); NaN when they never vary."""
    try:
        return float(krippendorff_alpha(preds.astype(float), level="nominal"))
    except ValueError:  # every student predicts one class everywhere: no expected disagreement
        return np.nan


def _filter_rows(arm: Arm, rows: np.ndarray, labels: np.ndarray, keep: np.ndarray | None, gold: np.ndarray,
                 is_gold: np.ndarray, texts: list[str], seed: int) -> tuple[np.ndarray, str]:
    """The training rows an arm keeps in one fold (all of them without a filter), or a note why none."""
    if arm.retention >= 1 or rows.size == 0:
        return rows, ""
    n_keep = max(1, int(round(arm.retention * rows.size)))
    if keep is not None:
        score = np.nan_to_num(keep[rows], nan=-np.inf)
    else:
        fit_rows = rows[is_gold[rows]]           # the fold's training gold: never an evaluation item
        is_error = labels[fit_rows] != gold[fit_rows]
        try:
            pred = fit_error_predictor(pd.DataFrame({"text": [texts[i] for i in fit_rows]}), is_error,
                                       text="text", seed=seed)
        except ValueError as exc:
            return rows[:0], f"the error predictor could not be fitted ({exc})"
        risk = np.empty(rows.size)
        on_gold = is_gold[rows]
        risk[on_gold] = pred.oof_proba           # cross-fitted: no item scored by a model that saw it
        others = rows[~on_gold]
        if others.size:
            risk[~on_gold] = score_error_predictor(pred, pd.DataFrame({"text": [texts[i] for i in others]}))
        score = -risk
    order = np.lexsort((np.arange(rows.size), -score))
    return np.sort(rows[order[:n_keep]]), ""


# ----------------------------------------------------------------------------- findings


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _signed(x: float) -> str:
    """+0.03 / -0.03, and +0.00 for a difference that rounds to nothing (never -0.00)."""
    return f"{round(x, 2) + 0.0:+.2f}"


def describe_findings(preview: StudentPreview) -> list[str]:
    """The preview's headline findings in plain sentences, with its own numbers."""
    ref = preview.arm(preview.reference)
    out = []
    if not ref.evaluable:
        return [f"The reference arm '{ref.name}' could not be evaluated: {ref.note}"]
    for a in preview.arms:
        if a.name == ref.name:
            continue
        if not a.evaluable:
            out.append(f"'{a.name}' could not be evaluated: {a.note}")
            continue
        loss = a.f1_loss
        parts = []
        if loss.ci_low > 0:
            parts.append(f"lose {loss.estimate:.2f} macro-F1 (95% CI {loss.ci_low:.2f} to {loss.ci_high:.2f})")
        elif loss.ci_high < 0:
            parts.append(f"gain {-loss.estimate:.2f} macro-F1 (95% CI {-loss.ci_high:.2f} to {-loss.ci_low:.2f})")
        else:
            parts.append(f"score within noise of '{ref.name}' (macro-F1 difference {_signed(-loss.estimate)}, "
                         f"95% CI {_signed(-loss.ci_high)} to {_signed(-loss.ci_low)})")
        r = a.minority_recall_ratio
        if r is not None and np.isfinite(r.estimate) and r.estimate < 1:
            parts.append(f"keep {_pct(r.estimate)} of the '{ref.name}' students' recall of the minority class "
                         f"'{preview.minority}'")
        if np.isfinite(a.stability_alpha) and np.isfinite(ref.stability_alpha):
            parts.append(f"agree with each other at alpha {a.stability_alpha:.2f} against "
                         f"{ref.stability_alpha:.2f} for '{ref.name}' students")
        sentence = f"Students trained on '{a.name}' " + ", ".join(parts) + "."
        g = a.gain_over_base
        if g is not None:
            sentence += (f" Filtering '{a.base}' this way ({a.n_removed:.0f} training rows removed per fold) "
                         f"{'recovers' if g.estimate >= 0 else 'costs'} {abs(g.estimate):.2f} macro-F1 "
                         f"(95% CI {_signed(g.ci_low)} to {_signed(g.ci_high)}).")
        out.append(sentence)
        if a.plateaued:
            out.append(f"The learning curve of '{a.name}' has plateaued: its last segment's slope "
                       f"({_signed(a.plateau.estimate)} macro-F1 per unit of data) is indistinguishable from zero.")
    return out
