"""Labeler-vs-gold and expert-vs-expert numbers, all computed by qc from the store's rows."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from labelgate.gold import Gold, load_gold
from labelgate.store import Database
from labelgate.store import gold as gold_store
from labelgate.store.items import item_meta_frame
from labelgate.store.labelers import current_versions
from labelgate.tasks import Task
from qc.agreement import cohen_kappa_score
from qc.estimate import Estimate
from qc.krippendorff import krippendorff_alpha_ci
from qc.uncertainty import bootstrap_cis

# Which metrics apply to which kind of task, in display order.
METRICS_BY_KIND = {
    "categorical": ["accuracy", "cohen_kappa", "gwet_ac1", "krippendorff_alpha", "macro_f1"],
    "pairwise": ["accuracy", "cohen_kappa", "gwet_ac1", "krippendorff_alpha", "macro_f1"],
    "ordinal": ["accuracy", "cohen_kappa", "linear_kappa", "quadratic_kappa", "krippendorff_alpha", "pearson",
                "spearman", "kendall_tau", "mae", "rmse", "mean_signed_error"],
    "continuous": ["krippendorff_alpha", "pearson", "spearman", "kendall_tau", "mae", "rmse", "mean_signed_error"],
}
CORRELATIONS = ("pearson", "spearman", "kendall_tau")
ALPHA_LEVEL = {"categorical": "nominal", "pairwise": "nominal", "ordinal": "ordinal", "continuous": "interval"}
CATEGORICAL_METRICS = {"accuracy", "cohen_kappa", "linear_kappa", "quadratic_kappa", "gwet_ac1", "macro_f1"}


@dataclass(frozen=True)
class Pairs:
    """One labeler's judgments beside the gold of the same items (one row per judgment)."""

    frame: pd.DataFrame  # item_id, shown_order, gold, pred, gold_num, pred_num, confidence

    @property
    def n_items(self) -> int:
        return self.frame["item_id"].nunique()


def judgments_vs_gold(task: Task, gold: Gold, judgments: pd.DataFrame) -> Pairs:
    """Join one labeler version's judgments with gold.

    Several samples of one (item, order) are reduced first: the majority label (ties to the
    smallest) for discrete kinds, the mean for numeric ones; the confidence is averaged. For
    ordinal tasks a fractional LLM score is rounded to the nearest scale point for the
    discrete metrics and kept as is for the numeric ones.
    """
    if judgments.empty or gold.labels.empty:
        return Pairs(pd.DataFrame(columns=["item_id", "shown_order", "gold", "pred", "gold_num", "pred_num",
                                           "confidence"]))
    j = judgments.assign(shown_order=judgments["shown_order"].fillna(""))
    keys = ["item_id", "shown_order"]
    if task.is_numeric:
        red = j.groupby(keys).agg(pred_num=("value_num", "mean"), confidence=("confidence", "mean")).reset_index()
        if task.kind == "ordinal":
            lo, hi = task.spec["scale"]
            red["pred"] = np.clip(np.round(red["pred_num"]), lo, hi).astype(int).astype(str)
        else:
            red["pred"] = red["pred_num"].map(repr)
    else:
        votes = j.groupby(keys + ["value"]).size().rename("votes").reset_index()
        votes = votes.sort_values(keys + ["votes", "value"], ascending=[True, True, False, True])
        red = votes.drop_duplicates(keys)[keys + ["value"]].rename(columns={"value": "pred"})
        conf = j.groupby(keys)["confidence"].mean().rename("confidence")
        red = red.join(conf, on=keys)
        red["pred_num"] = np.nan
    g = gold.labels[["item_id", "value", "value_num"]].rename(columns={"value": "gold", "value_num": "gold_num"})
    merged = red.merge(g, on="item_id", how="inner").sort_values(keys).reset_index(drop=True)
    return Pairs(merged[["item_id", "shown_order", "gold", "pred", "gold_num", "pred_num", "confidence"]])


def labeler_metrics(task: Task, pairs: Pairs, *, metrics: list[str] | None = None, n_resamples: int = 1000,
                    seed: int = 0, group_by: pd.Series | None = None) -> dict[str, Estimate]:
    """Each applicable metric with a percentile-bootstrap 95% CI.

    Resampling is by item (a cluster bootstrap when an item has several judgments, e.g. both
    presentation orders of a pairwise item). With `group_by` (item_id -> group), each
    correlation is also reported averaged over groups as "<name>_grouped" (point estimate and
    a bootstrap over groups).
    """
    f = pairs.frame
    out: dict[str, Estimate] = {}
    if f.empty:
        return out
    wanted = metrics or METRICS_BY_KIND[task.kind]
    groups = f["item_id"].to_numpy() if f["item_id"].duplicated().any() else None
    labels = task.labels or None
    data = {}
    for name in wanted:
        discrete = name in CATEGORICAL_METRICS or (name == "krippendorff_alpha" and not task.is_numeric)
        y_true = f["gold"].to_numpy() if discrete else f["gold_num"].to_numpy(dtype=float)
        y_pred = f["pred"].to_numpy() if discrete else f["pred_num"].to_numpy(dtype=float)
        metric = f"krippendorff_alpha_{ALPHA_LEVEL[task.kind]}" if name == "krippendorff_alpha" else name
        data[name] = (y_true, y_pred, metric, labels if discrete else None)
    # one shared set of resamples for every metric; an undefined one (e.g. one class only) is left out
    out.update(bootstrap_cis(data, n_resamples=n_resamples, seed=seed, groups=groups))
    if group_by is not None and task.is_numeric:
        from qc.agreement import grouped_correlation

        g = f["item_id"].map(group_by).to_numpy()
        x, y = f["gold_num"].to_numpy(float), f["pred_num"].to_numpy(float)
        for name in CORRELATIONS:
            method = "kendall" if name == "kendall_tau" else name
            try:
                point = grouped_correlation(x, y, g, method=method, level="per_group")
            except ValueError:
                continue
            out[f"{name}_grouped"] = grouped_correlation_ci(x, y, g, point, method=method, seed=seed)
    return out


def grouped_correlation_ci(x: np.ndarray, y: np.ndarray, groups: np.ndarray, point: float, *, method: str,
                           n_resamples: int = 200, seed: int = 0) -> Estimate:
    """Percentile CI of the per-group-averaged correlation, resampling whole groups.

    Each drawn group keeps its own rows and becomes a group of its own (a group drawn twice
    counts twice), which a generic cluster bootstrap over the rows cannot express. A loop over
    resamples: the per-group correlations do not vectorize, and 200 draws of a few dozen
    groups take milliseconds.
    """
    from qc.agreement import grouped_correlation

    labels = pd.unique(groups)
    members = [np.flatnonzero(groups == k) for k in labels]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_resamples):
        pick = rng.integers(0, len(labels), len(labels))
        idx = np.concatenate([members[p] for p in pick])
        new_groups = np.repeat(np.arange(len(pick)), [len(members[p]) for p in pick])
        try:
            values.append(grouped_correlation(x[idx], y[idx], new_groups, method=method, level="per_group"))
        except ValueError:
            continue  # no group with two items and variation in this draw
    lo, hi = np.percentile(values, [2.5, 97.5]) if values else (np.nan, np.nan)
    undefined = n_resamples - len(values)
    note = f", {undefined} undefined" if undefined else ""
    return Estimate(float(point), float(lo), float(hi), len(labels),
                    f"per-group mean; percentile bootstrap over groups (B={n_resamples}{note})")


def human_reliability(task: Task, experts: pd.DataFrame, *, n_resamples: int = 1000, seed: int = 0) -> dict:
    """Krippendorff's alpha among experts (bootstrap CI over items) and pairwise Cohen's kappa."""
    raters = sorted(experts["rater"].unique()) if not experts.empty else []
    result = {"n_raters": len(raters), "krippendorff_alpha": None, "pairwise_cohen_kappa": []}
    if len(raters) < 2:
        return result
    level = ALPHA_LEVEL[task.kind]
    value_col = "value_num" if task.is_numeric else "value"
    wide = experts.pivot_table(index="rater", columns="item_id", values=value_col, aggfunc="first")
    shared = wide.columns[wide.notna().sum() >= 2]
    if len(shared) >= 2:
        data = wide[shared]
        if not task.is_numeric:
            codes = {v: i for i, v in enumerate(task.labels)}
            data = data.apply(lambda col: col.map(codes))
        try:
            result["krippendorff_alpha"] = krippendorff_alpha_ci(data.to_numpy(dtype=float), level=level,
                                                                 n_resamples=n_resamples, seed=seed)
        except ValueError:
            pass  # no variation among the experts' values: alpha is undefined
    if task.kind == "continuous":
        return result  # Cohen's kappa needs categories
    # kappa on the canonical label text, in the task's own order (a 1-10 scale sorted as text
    # would put 10 between 1 and 2 and wreck the quadratic weights)
    text = experts.pivot_table(index="rater", columns="item_id", values="value", aggfunc="first")
    for a, b in combinations(raters, 2):
        both = text.loc[[a, b]].dropna(axis=1)
        if both.shape[1] < 2:
            continue
        try:
            kappa = cohen_kappa_score(both.loc[a], both.loc[b], labels=task.labels,
                                      weights="quadratic" if task.kind == "ordinal" else None)
        except ValueError:
            kappa = float("nan")
        result["pairwise_cohen_kappa"].append({"a": a, "b": b, "n": int(both.shape[1]), "kappa": float(kappa)})
    return result


def report(db: Database, task: Task, *, labelers: list[str] | None = None, group_by: str | None = None,
           n_resamples: int = 1000, seed: int = 0) -> dict:
    """The JSON document of `labelgate report`: gold, human reliability and every labeler's metrics."""
    gold = load_gold(db, task)
    configs = current_versions(db, task.task_id)
    if labelers:
        unknown = sorted(set(labelers) - set(configs["name"]))
        if unknown:
            raise LookupError(f"no labeler named {', '.join(unknown)} for task {task.name}; known: "
                              f"{', '.join(configs['name']) or 'none'}")
        configs = configs[configs["name"].isin(labelers)]
    groups = None
    if group_by:
        meta = item_meta_frame(db, task.task_id)
        if group_by not in meta.columns:
            raise ValueError(f"no metadata column {group_by!r} to group by; available: "
                             f"{', '.join(c for c in meta.columns if c != 'item_id') or 'none'}")
        groups = meta.set_index("item_id")[group_by]
    judgments = gold_store.llm_judgments(db, task.task_id, labelers=list(zip(configs["name"], configs["version"],
                                                                             strict=True)))
    out_labelers = []
    for c in configs.itertuples():
        pairs = judgments_vs_gold(task, gold, judgments[judgments["labeler"] == c.name])
        metrics = labeler_metrics(task, pairs, n_resamples=n_resamples, seed=seed, group_by=groups)
        out_labelers.append({"name": c.name, "family": c.family, "version": c.version, "n": pairs.n_items,
                             "metrics": {k: _est(v) for k, v in metrics.items()}})
    humans = human_reliability(task, gold_store.expert_labels(db, task.task_id), n_resamples=n_resamples, seed=seed)
    if humans["krippendorff_alpha"] is not None:
        humans["krippendorff_alpha"] = _est(humans["krippendorff_alpha"])
    return {"task": task.name, "kind": task.kind, "gold": {"n_items": gold.n_items, "n_disputed": gold.n_disputed},
            "humans": humans, "labelers": out_labelers}


def _est(e: Estimate) -> dict:
    d = e.to_dict()
    return {"estimate": d["estimate"], "ci_low": d["ci_low"], "ci_high": d["ci_high"]}
