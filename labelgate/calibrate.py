"""Calibrate: one labeler version against the human gold, in every view the Calibrate page shows.

Everything here takes frames the store returned (gold, a labeler's judgments joined with gold as
`analysis.Pairs`, item metadata) and returns frames or qc estimates; the page only renders them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from labelgate.analysis import CORRELATIONS, Pairs, judgments_vs_gold, labeler_metrics
from labelgate.gold import Gold, resolve_gold
from labelgate.store import Database
from labelgate.store import gold as gold_store
from labelgate.store import items as item_store
from labelgate.store.labelers import current_versions
from labelgate.tasks import Task
from qc import bias as qbias
from qc import calibration as qcal
from qc import correction as qcorr
from qc.agreement import confusion_matrix, grouped_correlation
from qc.estimate import Estimate
from qc.inference import classical_mean_ci, ppi_mean_ci
from qc.paired import paired_bootstrap_cis

TEXT_LENGTH = "text_length"
METRIC_NAMES = {
    "accuracy": "accuracy", "cohen_kappa": "Cohen's kappa", "linear_kappa": "linear-weighted kappa",
    "quadratic_kappa": "quadratic-weighted kappa", "gwet_ac1": "Gwet's AC1",
    "krippendorff_alpha": "Krippendorff's alpha", "macro_f1": "macro-F1", "pearson": "Pearson r",
    "spearman": "Spearman rho", "kendall_tau": "Kendall tau", "mae": "MAE", "rmse": "RMSE",
    "mean_signed_error": "mean signed error", "pearson_grouped": "Pearson r (per group)",
    "spearman_grouped": "Spearman rho (per group)", "kendall_tau_grouped": "Kendall tau (per group)",
}


# ------------------------------------------------------------------------------------ loading
@dataclass(frozen=True)
class LabelerData:
    """One labeler version beside gold."""

    name: str
    version: str
    family: str
    pairs: pd.DataFrame        # analysis.Pairs.frame
    metrics: dict[str, Estimate]


def labeler_refs(db: Database, task: Task) -> pd.DataFrame:
    """name, version, family of every current labeler of the task."""
    return current_versions(db, task.task_id)[["name", "version", "family"]]


def item_frame(db: Database, task: Task) -> pd.DataFrame:
    """item_id, text_length (characters of all shown fields) and one column per metadata key."""
    items = item_store.get_items(db, task.task_id)
    meta = item_store.item_meta_frame(db, task.task_id)
    lengths = pd.DataFrame({"item_id": items["item_id"],
                            TEXT_LENGTH: items["fields"].map(lambda f: sum(len(str(v)) for v in f.values()))})
    out = meta.merge(lengths, on="item_id", how="left")
    return out.drop(columns=[c for c in out.columns if c != "item_id" and out[c].isna().all()])


def load_labeler(db: Database, task: Task, gold: Gold, name: str, version: str, family: str, *,
                 n_resamples: int = 1000, seed: int = 0) -> LabelerData:
    """The labeler's judgments on gold items and its metrics with bootstrap CIs."""
    judgments = gold_store.llm_judgments(db, task.task_id, labelers=[(name, version)], criterion=task.criterion_name,
                                         item_ids=list(gold.labels["item_id"]))
    pairs = judgments_vs_gold(task, gold, judgments)
    metrics = labeler_metrics(task, pairs, n_resamples=n_resamples, seed=seed)
    return LabelerData(name, version, family, pairs.frame, metrics)


def criteria_metrics(db: Database, task: Task, gold_of, *, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Every criterion of the task x every current labeler x metric, each against that criterion's
    gold (`gold_of(view) -> Gold`, e.g. the chosen release of that criterion): criterion, labeler,
    metric, key, estimate, ci_low, ci_high, items, gold_items, invalid (the labeler's invalid outputs
    on that criterion)."""
    frames = []
    for name in task.criterion_names:
        view = task.criterion(name)
        gold = gold_of(view)
        refs = labeler_refs(db, view)
        datas = [load_labeler(db, view, gold, r.name, r.version, r.family, n_resamples=n_resamples, seed=seed)
                 for r in refs.itertuples()]
        invalid = invalid_outputs(db, view, refs)
        table = metrics_table(view, datas)
        frames.append(table.assign(criterion=name, gold_items=gold.n_items,
                                   invalid=table["labeler"].map(lambda n, inv=invalid: inv.get(n, "–"))))
    out = pd.concat(frames, ignore_index=True)
    return out[["criterion", "labeler", "metric", "key", "estimate", "ci_low", "ci_high", "items", "gold_items",
                "invalid"]]


def invalid_outputs(db: Database, task: Task, refs: pd.DataFrame) -> dict[str, str]:
    """Per labeler name: how many of its outputs were not a label of the task, e.g. "13 of 200 (6.5%)".

    Those outputs (a judge's out-of-scale answer, kept on import; a run's unparsable answer)
    are left out of every metric; the rate says how often the judge gave one.
    """
    counts = gold_store.judge_output_counts(db, task.task_id, list(zip(refs["name"], refs["version"], strict=True)),
                                             criterion=task.criterion_name)
    out = {}
    for r in counts.itertuples():
        total = r.n_labels + r.n_invalid
        out[r.labeler] = f"{r.n_invalid} of {total} ({r.n_invalid / total:.1%})" if total else "–"
    return out


def metrics_table(task: Task, labelers: list[LabelerData]) -> pd.DataFrame:
    """One row per (labeler, metric): estimate and its 95% CI."""
    rows = []
    for lab in labelers:
        for key, e in lab.metrics.items():
            rows.append({"labeler": lab.name, "metric": METRIC_NAMES.get(key, key), "key": key,
                         "estimate": e.estimate, "ci_low": e.ci_low, "ci_high": e.ci_high,
                         "items": Pairs(lab.pairs).n_items})
    return pd.DataFrame(rows, columns=["labeler", "metric", "key", "estimate", "ci_low", "ci_high", "items"])


def per_class_recall(task: Task, pairs: pd.DataFrame) -> pd.DataFrame | None:
    """Recall of each class with Wilson CIs and the minority-collapse flag (discrete kinds)."""
    if task.kind == "continuous" or pairs.empty:
        return None
    try:
        return qbias.recall_gap(pairs["gold"], pairs["pred"], labels=task.labels)
    except ValueError:
        return None


# ------------------------------------------------------------------------------- comparisons
def correct_mask(task: Task, pairs: pd.DataFrame) -> np.ndarray:
    """Whether each judgment is right: equal labels; for a continuous task within 10% of the range."""
    if task.kind == "continuous":
        lo, hi = task.spec["range"]
        return (np.abs(pairs["pred_num"].to_numpy(float) - pairs["gold_num"].to_numpy(float))
                <= 0.1 * (hi - lo))
    return (pairs["pred"].to_numpy(dtype=object) == pairs["gold"].to_numpy(dtype=object))


def scatter_frame(task: Task, pairs: pd.DataFrame, *, seed: int = 0) -> pd.DataFrame:
    """gold_num, pred_num and jittered copies (discrete scales only) for the scatter plot."""
    f = pairs[["item_id", "gold_num", "pred_num"]].copy()
    rng = np.random.default_rng(seed)
    amount = 0.12 if task.kind == "ordinal" else 0.0
    f["x"] = f["gold_num"] + rng.uniform(-amount, amount, len(f))
    f["y"] = f["pred_num"] + (rng.uniform(-amount, amount, len(f))
                              if task.kind == "ordinal" and np.allclose(f["pred_num"], np.round(f["pred_num"])) else 0)
    return f


def _plain(v: float) -> str:
    """A number to three significant digits in plain digits (never 1.07e+03)."""
    r = float(f"{v:.3g}")
    return f"{int(r):,}" if r.is_integer() else np.format_float_positional(r, trim="-")


def confusion(task: Task, pairs: pd.DataFrame) -> pd.DataFrame:
    """Counts of judgments (every presentation order and sample is one): rows the gold label,
    columns the labeler's."""
    return confusion_matrix(pairs["gold"], pairs["pred"], labels=task.labels)


@dataclass(frozen=True)
class Reliability:
    bins: pd.DataFrame
    ece: float
    auroc: float | None
    n: int


def reliability(task: Task, pairs: pd.DataFrame, *, n_bins: int = 10) -> Reliability | None:
    """Reliability diagram and ECE, when the labeler stated a confidence (None otherwise)."""
    conf = pd.to_numeric(pairs["confidence"], errors="coerce")
    ok = conf.notna().to_numpy()
    if ok.sum() < 2:
        return None
    c, right = conf.to_numpy(float)[ok], correct_mask(task, pairs)[ok]
    bins = qcal.reliability_bins(c, right, n_bins=n_bins)
    ece = qcal.expected_calibration_error(c, right, n_bins=n_bins)
    try:
        auroc = qcal.confidence_auroc_score(c, right)
    except ValueError:
        auroc = None
    return Reliability(bins, float(ece), auroc, int(ok.sum()))


def slice_options(items: pd.DataFrame) -> list[str]:
    """Metadata columns to slice by: text length first, then every other column."""
    cols = [c for c in items.columns if c not in ("item_id", TEXT_LENGTH)]
    return [TEXT_LENGTH, *cols]


def _is_numeric(col: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)


def with_items(pairs: pd.DataFrame, items: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return pairs.merge(items[["item_id", *columns]], on="item_id", how="left")


def slice_report(task: Task, pairs: pd.DataFrame, items: pd.DataFrame, column: str, *, bins: int = 4
                 ) -> qbias.SliceReport:
    """Signed error (numeric kinds) and agreement per slice of `column` (numeric columns binned)."""
    if column not in items.columns:
        raise ValueError(f"no metadata column {column!r}; available: {', '.join(slice_options(items))}")
    f = with_items(pairs, items, [column])
    numeric = _is_numeric(f[column]) and f[column].nunique() > bins
    if task.is_numeric:
        y_llm, y_human, tol = f["pred_num"], f["gold_num"], (0.5 if task.kind == "ordinal" else
                                                            0.1 * np.ptp(task.spec["range"]))
    else:
        y_llm, y_human, tol = f["pred"], f["gold"], 0.0
    return qbias.slice_bias(y_llm.to_numpy(), y_human.to_numpy(), f[column].to_numpy(),
                            bins=bins if numeric else None, tolerance=tol)


def error_regression(task: Task, pairs: pd.DataFrame, items: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """OLS (HC3 errors) of the signed error on item features; for discrete kinds, of disagreement (0/1)."""
    if not columns:
        raise ValueError("choose at least one column to regress the error on")
    f = with_items(pairs, items, columns).dropna(subset=columns)
    X = f[columns].copy()
    for c in columns:  # a numeric column with few values is still numeric; text columns are categories
        if not _is_numeric(X[c]):
            X[c] = X[c].astype(str)
    if task.is_numeric:
        y_llm, y_human = f["pred_num"].to_numpy(float), f["gold_num"].to_numpy(float)
    else:
        y_llm = (~correct_mask(task, f)).astype(float)
        y_human = np.zeros(len(f))
    return qbias.bias_regression(y_llm, y_human, X)


def family_columns(task: Task, items: pd.DataFrame) -> list[str]:
    """Metadata naming the model family that wrote an item (pairwise: one per output)."""
    if task.kind == "pairwise":
        cols = ["output_1_family", "output_2_family"]
        return cols if all(c in items.columns for c in cols) else []
    return [c for c in items.columns if c.lower() in ("source_family", "model_family", "family")][:1]


def self_preference(task: Task, pairs: pd.DataFrame, items: pd.DataFrame, family: str) -> Estimate | None:
    """Same-family minus other-family signed error (pairwise: excess win rate over gold), or None."""
    cols = family_columns(task, items)
    if not cols:
        return None
    f = with_items(pairs, items, cols)
    if task.kind == "pairwise":
        return _pairwise_self_preference(f, cols, family)
    if task.is_numeric:
        v = (f["pred_num"] - f["gold_num"]).to_numpy(float)
        s = (f[cols[0]].astype(str).str.lower() == family.lower()).to_numpy()
    else:
        return None
    try:
        return qbias.self_preference(v, s, kind="mean")
    except ValueError:
        return None


def _pairwise_self_preference(f: pd.DataFrame, cols: list[str], family: str) -> Estimate | None:
    """Pairwise: on items where exactly one output comes from the labeler's family, how much more
    often the labeler picks that output than the gold does. One value per item (its judgments --
    both orders, samples -- averaged first), so the interval counts items, not correlated rows."""
    fam = family.lower()
    first_same = f[cols[0]].astype(str).str.lower() == fam
    second_same = f[cols[1]].astype(str).str.lower() == fam
    one = first_same ^ second_same
    if not one.any():
        return None
    own = np.where(first_same[one], "1", "2")
    g = f[one]
    excess = (g["pred"].to_numpy() == own).astype(float) - (g["gold"].to_numpy() == own).astype(float)
    per_item = pd.Series(excess).groupby(g["item_id"].to_numpy()).mean().to_numpy()
    n = len(per_item)
    if n < 2:
        return None
    mean, se = float(per_item.mean()), float(per_item.std(ddof=1) / np.sqrt(n))
    half = float(scipy_stats.t.ppf(0.975, n - 1)) * se
    return Estimate(mean, mean - half, mean + half, n, "t-interval over items")


def position(task: Task, pairs: pd.DataFrame) -> qbias.PositionBias | None:
    """Flip rate and first-position rate of a pairwise labeler judged in both orders (else None)."""
    if task.kind != "pairwise" or pairs.empty or not {"12", "21"} <= set(pairs["shown_order"]):
        return None
    wide = pairs.pivot_table(index="item_id", columns="shown_order", values="pred", aggfunc="first")
    ab = wide["12"].where(wide["12"].notna(), None).to_numpy(dtype=object)
    ba = wide["21"].where(wide["21"].notna(), None).to_numpy(dtype=object)
    return qbias.position_bias(ab, ba, first="1", second="2")


def distributions(task: Task, pairs: pd.DataFrame, gold: Gold, *, n_bins: int = 10) -> dict:
    """The labeler's and the humans' label shares (continuous: binned) with KL and JS divergence."""
    if task.kind == "continuous":
        lo, hi = task.spec["range"]
        edges = np.linspace(lo, hi, n_bins + 1)
        names = [f"{_plain(a)}-{_plain(b)}" for a, b in zip(edges[:-1], edges[1:], strict=True)]
        names = pd.Series(names, dtype=object)

        def cut(v):
            return names[np.clip(np.searchsorted(edges, v, side="right") - 1, 0, n_bins - 1)].to_numpy()

        llm, human = cut(pairs["pred_num"].to_numpy(float)), cut(gold.labels["value_num"].to_numpy(float))
        labels = list(names)
    else:
        llm, human = pairs["pred"].to_numpy(dtype=object), gold.labels["value"].to_numpy(dtype=object)
        labels = task.labels
    return qbias.label_divergence(llm, human, labels=labels)


def group_options(items: pd.DataFrame, *, max_share: float = 0.5) -> list[str]:
    """Columns that group items (fewer distinct values than half the items, at least 2)."""
    out = []
    for c in items.columns:
        if c in ("item_id", TEXT_LENGTH):
            continue
        k = items[c].nunique()
        if 2 <= k <= max(2, max_share * len(items)) and (not _is_numeric(items[c]) or k <= 20):
            out.append(c)
    return out


def group_correlations(task: Task, pairs: pd.DataFrame, items: pd.DataFrame, column: str) -> pd.DataFrame:
    """Each correlation over items, averaged per group, and of group means (numeric kinds)."""
    if not task.is_numeric:
        raise ValueError("group-level correlations need an ordinal or continuous task")
    f = with_items(pairs, items, [column]).dropna(subset=[column])
    g = f[column].astype(str).to_numpy()
    rows = []
    for name in CORRELATIONS:
        method = "kendall" if name == "kendall_tau" else name
        row = {"correlation": METRIC_NAMES[name]}
        for level, label in (("item", "over items"), ("per_group", "per group, averaged"),
                             ("group_means", "of group means")):
            try:
                row[label] = grouped_correlation(f["gold_num"], f["pred_num"], g, method=method, level=level)
            except ValueError:
                row[label] = np.nan
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs["n_groups"] = int(pd.Series(g).nunique())
    return out


# ------------------------------------------------------------------------------- corrections
CV_RESAMPLES = 1000   # the paired bootstrap of a cross-validated change
CORRECTION_LABELS = {
    "linear": "linear (a + b * score)", "isotonic": "isotonic (monotone steps)",
    "linear_covariates": "linear with item covariates", "ordinal_cuts": "ordinal cut points",
    "confusion": "confusion matrix (class shares)", "platt": "Platt scaling of the confidence",
}


@dataclass(frozen=True)
class CvEffect:
    """The cross-validated effect of a correction on its first (headline) metric."""

    metric: str
    before: float
    after: float

    @property
    def higher_better(self) -> bool:
        # agreement is higher-better; every other metric here (MAE, RMSE, ECE, share error) an error
        return "agreement" in self.metric

    @property
    def worse(self) -> bool:
        return self.after < self.before if self.higher_better else abs(self.after) > abs(self.before)

    def describe(self) -> str:
        return (f"cross-validated {self.metric} {self.before:.4f} → {self.after:.4f}"
                + (" (worse)" if self.worse else " (better)" if self.after != self.before else " (no change)"))


def cv_effect(cv: pd.DataFrame | list[dict] | None) -> CvEffect | None:
    """The headline row of a cross-validation table (as cross_validate returns or a correction stores it)."""
    rows = cv.to_dict("records") if isinstance(cv, pd.DataFrame) else cv
    if not rows:
        return None
    r = rows[0]
    return CvEffect(str(r["metric"]), float(r["before"]), float(r["after"]))


def cv_agreement_drops(cv: pd.DataFrame | list[dict] | None) -> list[CvEffect]:
    """The agreement metrics the correction lowers, cross-validated, besides the headline row: a correction
    judged better by its error (MAE) can still agree less often with the gold (exact agreement after rounding)."""
    rows = cv.to_dict("records") if isinstance(cv, pd.DataFrame) else (cv or [])
    effects = [CvEffect(str(r["metric"]), float(r["before"]), float(r["after"])) for r in rows[1:]]
    return [e for e in effects if e.higher_better and e.worse]


def cv_warnings(cv: pd.DataFrame | list[dict] | None) -> list[str]:
    """What the Calibrate page warns of beside its save button, in the words `labelgate gate evaluate` and
    `labelgate export` print for the correction in force: a headline metric made worse (saved only once
    confirmed), then each agreement metric the correction lowers."""
    effect = cv_effect(cv)
    out = [f"This correction makes the {effect.describe()}."] if effect is not None and effect.worse else []
    for drop in cv_agreement_drops(cv):  # judged better by its error, it can still agree less often
        out.append(f"Agreement gets worse with this correction: {drop.describe()}"
                   + (f", although the {effect.describe()}." if effect is not None and not effect.worse else "."))
    return out


def describe_correction(corr: dict) -> str:
    """A saved correction in words: method, the gold it was fitted on, its cross-validated effect."""
    effect = cv_effect(corr.get("cv_metrics"))
    return (f"{CORRECTION_LABELS.get(corr['method'], corr['method'])}, fitted on {int(corr['n_fit'])} items of gold "
            f"{corr['gold_version']} by {corr['created_by']}; "
            + (effect.describe() if effect else "not cross-validated")
            + "".join(f", {d.describe()}" for d in cv_agreement_drops(corr.get("cv_metrics")))
            + f" (correction #{corr['correction_id']})")


def correction_methods_of(task: Task) -> list[str]:
    """Every correction a task of this kind can save (and an export apply)."""
    if task.is_numeric:
        return ["linear", "isotonic", "linear_covariates"] + (["ordinal_cuts"] if task.kind == "ordinal" else []) \
            + ["platt"]
    return ["confusion", "platt"]


def correction_methods(task: Task, pairs: pd.DataFrame) -> list[str]:
    """The corrections offered for this labeler: Platt scaling only with 10 or more stated confidences."""
    has_conf = pd.to_numeric(pairs["confidence"], errors="coerce").notna().sum() >= 10 if not pairs.empty else False
    return [m for m in correction_methods_of(task) if m != "platt" or has_conf]


def _covariates(items: pd.DataFrame, pairs: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    X = with_items(pairs[["item_id"]], items, columns)[columns]
    for c in columns:
        if not _is_numeric(X[c]):
            X[c] = X[c].astype(str)
        elif X[c].isna().any():
            raise ValueError(f"the covariate {c!r} is missing for some items")
    return X


def _check_n(pairs: pd.DataFrame, k: int) -> None:
    n = pairs["item_id"].nunique() if not pairs.empty else 0
    if n < max(2 * k, 10):
        raise ValueError(f"a correction needs at least {max(2 * k, 10)} gold items with this labeler's labels; "
                         f"there are {n}")


def cross_validate(task: Task, pairs: pd.DataFrame, method: str, *, items: pd.DataFrame | None = None,
                   covariates: list[str] | None = None, k: int = 5, seed: int = 0,
                   slice_column: str | None = None, n_resamples: int = CV_RESAMPLES) -> pd.DataFrame:
    """Out-of-fold metrics before and after the correction: metric, before, after, change (after -
    before) and its 95% CI (change_ci_low, change_ci_high: a paired bootstrap over items of the
    out-of-fold predictions, seeded by `seed`; NaN where no interval is computed).

    Numeric kinds score the corrected score (MAE, RMSE, mean signed error, and exact agreement
    after rounding for ordinal tasks); with `slice_column`, also the largest absolute mean signed
    error over its slices. `confusion` scores the error of the class shares per fold (half the
    L1 distance to the gold shares); `platt` the ECE and Brier loss of the confidence.
    """
    _check_n(pairs, k)
    groups = pairs["item_id"].to_numpy()
    if method == "confusion":
        return _with_change(_cv_confusion(task, pairs, k=k, seed=seed))
    if method == "platt":
        return _with_change(_cv_platt(task, pairs, k=k, seed=seed))
    if not task.is_numeric:
        raise ValueError(f"the {method} correction needs an ordinal or continuous task")
    X = _covariates(items, pairs, covariates or []) if method == "linear_covariates" else None
    if method == "linear_covariates" and not covariates:
        raise ValueError("choose at least one covariate for the linear-with-covariates correction")
    metrics = ["mae", "rmse", "mean_signed_error"] + (["accuracy_rounded"] if task.kind == "ordinal" else [])
    qmethod = "linear_ordinal" if method == "ordinal_cuts" else method
    try:
        cv = qcorr.cross_validate_correction(pairs["pred_num"].to_numpy(float), pairs["gold_num"].to_numpy(float),
                                             method=qmethod, k=k, seed=seed, metrics=metrics, X=X, groups=groups)
    except np.linalg.LinAlgError as exc:
        raise ValueError(f"the covariates are collinear ({exc}); choose fewer columns") from None
    out = cv[cv["fold"] == "all"][["metric", "before", "after"]].reset_index(drop=True)
    y, raw, fixed = pairs["gold_num"].to_numpy(float), pairs["pred_num"].to_numpy(float), cv.attrs["predictions"]
    change = _paired_change(out["metric"], y, raw, fixed, groups, n_resamples=n_resamples, seed=seed)
    if slice_column:
        pred = cv.attrs["predictions"]
        y = pairs["gold_num"].to_numpy(float)
        rep = []
        for values in (pairs["pred_num"].to_numpy(float), pred):
            r = qbias.slice_bias(values, y, with_items(pairs[["item_id"]], items, [slice_column])[slice_column]
                                 .to_numpy(), bins=4 if _is_numeric(items[slice_column])
                                 and items[slice_column].nunique() > 4 else None)
            rep.append(float(np.nanmax(np.abs(r.table["mean_signed_error"]))))
        out.loc[len(out)] = [f"largest |mean signed error| over {slice_column} slices", rep[0], rep[1]]
    out = _with_change(out, change)
    out.attrs = {}
    out["metric"] = out["metric"].replace({"accuracy_rounded": "exact agreement (rounded)",
                                           "mean_signed_error": "mean signed error", "mae": "MAE", "rmse": "RMSE"})
    return out


# the cross-validation's metrics as qc.paired names them (accuracy_rounded: accuracy of the rounded scores)
_PAIRED = {"mae": "mae", "rmse": "rmse", "mean_signed_error": "mean_signed_error", "accuracy_rounded": "accuracy"}


def _paired_change(metrics: pd.Series, y: np.ndarray, raw: np.ndarray, fixed: np.ndarray, groups: np.ndarray, *,
                   n_resamples: int, seed: int) -> dict[str, Estimate]:
    """metric -> the change (after - before) with its paired bootstrap 95% CI over items: one resample-index
    matrix shared by every metric and both arms (qc.paired), whole items resampled."""
    data = {}
    for m in metrics:
        if m in _PAIRED:
            a, b = (np.round(fixed), np.round(raw)) if m == "accuracy_rounded" else (fixed, raw)
            data[m] = (y, a, b, _PAIRED[m], None)
    return paired_bootstrap_cis(data, n_resamples=n_resamples, seed=seed, groups=groups) if data else {}


def _with_change(out: pd.DataFrame, change: dict[str, Estimate] | None = None) -> pd.DataFrame:
    """`out` (metric, before, after) with change = after - before and its CI where `change` has one."""
    change = change or {}
    out = out.copy()
    out["change"] = out["after"] - out["before"]
    out["change_ci_low"] = [change[m].ci_low if m in change else np.nan for m in out["metric"]]
    out["change_ci_high"] = [change[m].ci_high if m in change else np.nan for m in out["metric"]]
    return out


def _folds(groups: np.ndarray, k: int, seed: int):
    from sklearn.model_selection import GroupKFold

    codes = pd.factorize(pd.Series(groups))[0]
    return GroupKFold(n_splits=k, shuffle=True, random_state=seed).split(groups, groups, codes)


def _shares(values, labels) -> np.ndarray:
    s = pd.Series(values).value_counts().reindex(labels, fill_value=0).to_numpy(float)
    return s / max(s.sum(), 1)


def _cv_confusion(task: Task, pairs: pd.DataFrame, *, k: int, seed: int) -> pd.DataFrame:
    labels = task.labels
    before, after = [], []
    for train, test in _folds(pairs["item_id"].to_numpy(), k, seed):
        tr, te = pairs.iloc[train], pairs.iloc[test]
        params = qcorr.fit_confusion(tr["gold"], tr["pred"], labels=labels, smoothing=0.5)
        truth = _shares(te["gold"], labels)
        raw = _shares(te["pred"], labels)
        fixed = qcorr.apply_confusion(params, raw.tolist()).reindex(labels).to_numpy()
        before.append(0.5 * np.abs(raw - truth).sum())
        after.append(0.5 * np.abs(fixed - truth).sum())
    return pd.DataFrame({"metric": ["error of the class shares (half L1, mean over folds)"],
                         "before": [float(np.mean(before))], "after": [float(np.mean(after))]})


def _cv_platt(task: Task, pairs: pd.DataFrame, *, k: int, seed: int) -> pd.DataFrame:
    f = pairs[pd.to_numeric(pairs["confidence"], errors="coerce").notna()].reset_index(drop=True)
    _check_n(f, k)
    conf = f["confidence"].to_numpy(float)
    right = correct_mask(task, f).astype(float)
    pred = np.full(len(f), np.nan)
    for train, test in _folds(f["item_id"].to_numpy(), k, seed):
        params = qcorr.fit_platt(conf[train], right[train])
        pred[test] = qcorr.apply_platt(params, conf[test])
    return pd.DataFrame({
        "metric": ["ECE", "Brier loss"],
        "before": [qcal.expected_calibration_error(conf, right), qcal.brier_score_loss(conf, right)],
        "after": [qcal.expected_calibration_error(pred, right), qcal.brier_score_loss(pred, right)]})


def fit_correction(task: Task, pairs: pd.DataFrame, method: str, *, items: pd.DataFrame | None = None,
                   covariates: list[str] | None = None) -> dict:
    """Fit on every gold judgment; returns the JSON-able params (with covariates and method)."""
    _check_n(pairs, 2)
    if method == "confusion":
        params = qcorr.fit_confusion(pairs["gold"], pairs["pred"], labels=task.labels, smoothing=0.5)
    elif method == "platt":
        f = pairs[pd.to_numeric(pairs["confidence"], errors="coerce").notna()]
        params = qcorr.fit_platt(f["confidence"].to_numpy(float), correct_mask(task, f).astype(float))
    else:
        x, y = pairs["pred_num"].to_numpy(float), pairs["gold_num"].to_numpy(float)
        if method == "linear":
            params = qcorr.fit_linear(x, y)
        elif method == "isotonic":
            params = qcorr.fit_isotonic(x, y)
        elif method == "linear_covariates":
            if not covariates:
                raise ValueError("choose at least one covariate for the linear-with-covariates correction")
            try:
                params = qcorr.fit_linear_covariates(x, y, _covariates(items, pairs, covariates))
            except np.linalg.LinAlgError as exc:
                raise ValueError(f"the covariates are collinear ({exc}); choose fewer columns") from None
        elif method == "ordinal_cuts":
            lin = qcorr.fit_linear(x, y)
            cuts = qcorr.fit_ordinal_cuts(qcorr.apply_linear(lin, x), y)
            return {"method": "ordinal_cuts", "linear": lin.to_dict(), "cuts": cuts.to_dict()}
        else:
            raise ValueError(f"unknown correction method {method!r}; expected one of {', '.join(CORRECTION_LABELS)}")
    return {"method": method, "params": params.to_dict(), "covariates": list(covariates or [])}


class CorrectionPermissionError(PermissionError):
    """Only an engineer or a lead saves a correction (what an export then applies)."""


class WorseCorrectionError(ValueError):
    """A correction that makes its cross-validated headline metric worse, not confirmed."""

    def __init__(self, effect: CvEffect):
        super().__init__(f"the correction makes the {effect.describe()}")
        self.effect = effect


@dataclass(frozen=True)
class CorrectionFit:
    """A correction fitted on every gold judgment of one labeler version, with its cross-validated effect:
    what the Calibrate page shows before its save button and `labelgate calibrate fit` prints."""

    method: str
    covariates: tuple[str, ...]
    params: dict               # fit_correction's JSON-able params
    cv: pd.DataFrame           # cross_validate's table
    n_fit: int                 # gold items it was fitted on

    @property
    def effect(self) -> CvEffect | None:
        return cv_effect(self.cv)

    @property
    def agreement_drops(self) -> list[CvEffect]:
        return cv_agreement_drops(self.cv)

    @property
    def warnings(self) -> list[str]:
        return cv_warnings(self.cv)

    def cv_records(self) -> list[dict]:
        """The cross-validation table as stored with the correction (JSON: a missing CI is null)."""
        return [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
                for r in self.cv.to_dict("records")]


def fit_labeler_correction(task: Task, pairs: pd.DataFrame, method: str, *, items: pd.DataFrame | None = None,
                           covariates: list[str] | tuple[str, ...] = (), cv: pd.DataFrame | None = None
                           ) -> CorrectionFit:
    """Fit `method` on the labeler's gold judgments (`pairs`) and cross-validate it (`cv`: the page's cached
    cross_validate table of the same inputs, else computed here). Raises ValueError naming what is wrong:
    a method this labeler is not offered, too few items, a covariate missing."""
    offered = correction_methods(task, pairs)
    if method not in offered:
        why = (" (Platt scaling needs 10 or more stated confidences)" if method == "platt"
               and method in correction_methods_of(task) else "")
        raise ValueError(f"method {method!r} is not offered for this labeler{why}; choose one of {', '.join(offered)}")
    covariates = tuple(covariates) if method == "linear_covariates" else ()
    params = fit_correction(task, pairs, method, items=items, covariates=list(covariates))
    if cv is None:
        cv = cross_validate(task, pairs, method, items=items, covariates=list(covariates))
    return CorrectionFit(method, covariates, params, cv, int(pairs["item_id"].nunique()))


def save_labeler_correction(db: Database, task: Task, gold: Gold, labeler: str, version: str, fit: CorrectionFit, *,
                            user, confirm_worse: bool = False) -> int:
    """Save `fit` as the correction of `labeler` version `version` on `task`'s criterion, fitted on `gold`; the
    correction id. The one rule of the page and the CLI: only an engineer or a lead saves
    (CorrectionPermissionError), and a correction that makes its cross-validated headline metric worse only
    when confirmed (WorseCorrectionError otherwise)."""
    from labelgate.auth import can_save_correction
    from labelgate.store.corrections import save_correction

    if not can_save_correction(user.role):
        raise CorrectionPermissionError(f"Only an engineer or a lead saves a correction; {user.name} is "
                                        f"{'an' if user.role[0] in 'aeiou' else 'a'} {user.role}.")
    effect = fit.effect
    if effect is not None and effect.worse and not confirm_worse:
        raise WorseCorrectionError(effect)
    return save_correction(db, task_id=task.task_id, labeler=labeler, labeler_version=version, method=fit.method,
                           params=fit.params, gold_version=gold.version, n_fit=fit.n_fit, cv_metrics=fit.cv_records(),
                           created_by=user.name, gold_release=gold.release, criterion=task.criterion_name)


def correction_curve(task: Task, stored: dict, grid: np.ndarray) -> np.ndarray | None:
    """The fitted correction as a function of the raw score (None for covariate or class-share methods)."""
    m = stored["method"]
    if m == "ordinal_cuts":
        lin = qcorr.params_from_dict(stored["linear"])
        return qcorr.apply_ordinal_cuts(qcorr.params_from_dict(stored["cuts"]), qcorr.apply_linear(lin, grid))
    if m in ("linear", "isotonic"):
        p = qcorr.params_from_dict(stored["params"])
        return (qcorr.apply_linear if m == "linear" else qcorr.apply_isotonic)(p, grid)
    return None


def apply_correction(task: Task, stored: dict, judgments: pd.DataFrame, items: pd.DataFrame | None = None
                     ) -> pd.DataFrame:
    """Corrected labels of a batch, one row per item.

    Numeric kinds: the item's mean raw score and the corrected score (ordinal: also rounded to
    the scale). Confusion: the posterior probability of each true class given the item's
    judgments (all orders and samples), with the corrected class shares of the batch as prior,
    and the most probable class as the corrected label. Platt: the corrected confidence.
    """
    if judgments.empty:
        raise ValueError("this batch has no labels of this labeler version")
    m = stored["method"]
    keys = ["item_id", "labeler", "version", "batch"]
    if m == "confusion":
        p = qcorr.params_from_dict(stored["params"])
        labels = list(p.labels)
        M = np.asarray(p.matrix, float)
        prior = qcorr.apply_confusion(p, _shares(judgments["value"], labels).tolist()).reindex(labels).to_numpy()
        pos = {lab: i for i, lab in enumerate(labels)}
        j = judgments[judgments["value"].isin(pos)]
        loglik = np.log(np.clip(M[:, j["value"].map(pos).to_numpy()], 1e-9, None)).T  # (judgments, classes)
        ll = pd.DataFrame(loglik, columns=labels).groupby(j["item_id"].to_numpy()).sum()
        logpost = ll.to_numpy() + np.log(np.clip(prior, 1e-9, None))
        post = np.exp(logpost - logpost.max(axis=1, keepdims=True))
        post /= post.sum(axis=1, keepdims=True)
        raw = j.groupby("item_id")["value"].agg(lambda v: ",".join(v))
        out = j.groupby("item_id")[["labeler", "version", "batch"]].first().loc[ll.index].reset_index()
        out.insert(4, "raw_labels", raw.loc[ll.index].to_numpy())
        out["corrected"] = [labels[i] for i in post.argmax(axis=1)]
        for i, lab in enumerate(labels):
            out[f"p_{lab}"] = post[:, i].round(4)
        return out
    if m == "platt":
        p = qcorr.params_from_dict(stored["params"])
        j = judgments.dropna(subset=["confidence"])
        out = j[keys + ["shown_order", "value", "confidence"]].copy()
        out["corrected_confidence"] = qcorr.apply_platt(p, j["confidence"].to_numpy(float))
        return out.reset_index(drop=True)
    red = judgments.groupby("item_id").agg(labeler=("labeler", "first"), version=("version", "first"),
                                           batch=("batch", "first"), raw=("value_num", "mean")).reset_index()
    x = red["raw"].to_numpy(float)
    if m == "linear_covariates":
        p = qcorr.params_from_dict(stored["params"])
        y = qcorr.apply_linear_covariates(p, x, _covariates(items, red, stored["covariates"]))
    else:
        y = correction_curve(task, stored, x)
    lo, hi = task.spec["scale"] if task.kind == "ordinal" else task.spec["range"]
    red["corrected"] = np.clip(y, lo, hi)
    if task.kind == "ordinal":
        red["corrected_label"] = np.round(red["corrected"]).astype(int)
    return red


# ---------------------------------------------------------------------------- population
def population_estimate(task: Task, gold: Gold, judgments: pd.DataFrame) -> pd.DataFrame:
    """Share of each class (numeric kinds: the mean) in a batch: PPI++ beside gold alone.

    The labeler's per-item value is the share of its judgments (orders, samples) giving the
    class (numeric: their mean); the batch's items are the unlabeled population, and the gold
    items the labeler also judged give the rectifier.
    """
    if judgments.empty:
        raise ValueError("this batch has no labels of this labeler version")
    g = gold.labels.set_index("item_id")
    rows = []
    if task.is_numeric:
        per_item = judgments.groupby("item_id")["value_num"].mean()
        targets = [("mean label", per_item, g["value_num"].astype(float))]
    else:
        targets = []
        for lab in task.labels:
            per_item = judgments.assign(hit=(judgments["value"] == lab).astype(float)).groupby("item_id")["hit"].mean()
            targets.append((lab, per_item, (g["value"] == lab).astype(float)))
    for name, per_item, truth in targets:
        shared = per_item.index.intersection(truth.index)
        row = {"label": name, "batch items": len(per_item), "gold items": len(shared),
               "labeler alone": float(per_item.mean())}
        if len(shared) >= 2:
            ppi = ppi_mean_ci(truth.loc[shared].to_numpy(float), per_item.loc[shared].to_numpy(float),
                              per_item.to_numpy(float))
            cls = classical_mean_ci(truth.loc[shared].to_numpy(float))
            clip = (lambda v: min(max(v, 0.0), 1.0)) if not task.is_numeric else (lambda v: v)
            row.update({"PPI estimate": clip(ppi.estimate), "PPI ci_low": clip(ppi.ci_low),
                        "PPI ci_high": clip(ppi.ci_high), "gold-only estimate": cls.estimate,
                        "gold-only ci_low": clip(cls.ci_low), "gold-only ci_high": clip(cls.ci_high)})
        rows.append(row)
    return pd.DataFrame(rows)


def load_task_gold(db: Database, task: Task, release: int | None = None) -> Gold:
    """Release `release` of the task's gold (default: the latest release, else the draft)."""
    return resolve_gold(db, task, release)
