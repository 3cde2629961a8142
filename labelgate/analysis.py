"""Labeler-vs-gold and expert-vs-expert numbers, all computed by qc from the store's rows."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from labelgate.gold import Gold, draft_progress
from labelgate.gold.derive import derive_gold
from labelgate.gold.releases import get_release, latest_release, release_gold
from labelgate.store import Database
from labelgate.store import gold as gold_store
from labelgate.store.items import item_meta_frame
from labelgate.store.labelers import current_versions
from labelgate.tasks import Task
from qc.agreement import cohen_kappa_score
from qc.estimate import Estimate, GroupedEstimate
from qc.krippendorff import krippendorff_alpha_ci
from qc.uncertainty import bootstrap_cis, grouped_correlation_ci

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
        if j.duplicated(keys).any():
            red = j.groupby(keys).agg(pred_num=("value_num", "mean"), confidence=("confidence", "mean")).reset_index()
        else:  # one judgment per (item, order), the common case: its own value is the mean, no groupby
            red = (j[keys + ["value_num", "confidence"]].rename(columns={"value_num": "pred_num"})
                   .astype({"pred_num": float, "confidence": float}).sort_values(keys).reset_index(drop=True))
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
                    seed: int = 0, group_by: pd.Series | None = None, cache: dict | None = None
                    ) -> dict[str, Estimate]:
    """Each applicable metric with a percentile-bootstrap 95% CI.

    Resampling is by item (a cluster bootstrap when an item has several judgments, e.g. both
    presentation orders of a pairwise item). With `group_by` (item_id -> group), each
    correlation is also reported averaged over groups (see grouped_metrics). `cache`: a dict kept
    across the labelers compared with one gold (qc.uncertainty.bootstrap_cis); the same numbers.
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
    out.update(bootstrap_cis(data, n_resamples=n_resamples, seed=seed, groups=groups, cache=cache))
    if group_by is not None and task.is_numeric:
        out.update(grouped_metrics(f, group_by, n_resamples=n_resamples, seed=seed))
    return out


def grouped_metrics(frame: pd.DataFrame, group_by: pd.Series, *, n_resamples: int = 1000,
                    seed: int = 0) -> dict[str, GroupedEstimate]:
    """Each correlation averaged over groups ("<name>_grouped"), with a bootstrap over groups.

    `frame` is a Pairs frame, `group_by` maps item_id to its group; items without a group are
    left out. A correlation no group defines (every group has < 2 items or a constant score)
    is left out too.
    """
    g = frame["item_id"].map(group_by)
    keep = g.notna().to_numpy()
    x, y = frame["gold_num"].to_numpy(float)[keep], frame["pred_num"].to_numpy(float)[keep]
    groups = g[keep].astype(str).to_numpy()
    out = {}
    for name in CORRELATIONS:
        method = "kendall" if name == "kendall_tau" else name
        try:
            out[f"{name}_grouped"] = grouped_correlation_ci(x, y, groups, method=method, n_resamples=n_resamples,
                                                            seed=seed)
        except ValueError:
            continue
    return out


def human_reliability(task: Task, experts: pd.DataFrame, *, n_resamples: int = 1000, seed: int = 0) -> dict:
    """Krippendorff's alpha among experts (bootstrap CI over items) and pairwise Cohen's kappa."""
    raters = sorted(experts["rater"].unique()) if not experts.empty else []
    result = {"n_raters": len(raters), "krippendorff_alpha": None, "pairwise_cohen_kappa": []}
    if len(raters) < 2:
        return result
    level = ALPHA_LEVEL[task.kind]
    value_col = "value_num" if task.is_numeric else "value"
    # items as rows, raters as columns: a thousand items as columns made every dropna and .loc a pandas
    # loop over a thousand object columns (seconds per criterion)
    wide = experts.pivot_table(index="item_id", columns="rater", values=value_col, aggfunc="first")
    shared = wide.index[wide.notna().sum(axis=1).to_numpy() >= 2]
    if len(shared) >= 2:
        data = wide.loc[shared]
        if not task.is_numeric:
            codes = {v: i for i, v in enumerate(task.labels)}
            data = data.apply(lambda col: col.map(codes))
        try:
            result["krippendorff_alpha"] = krippendorff_alpha_ci(data.to_numpy(dtype=float).T, level=level,
                                                                 n_resamples=n_resamples, seed=seed)
        except ValueError:
            pass  # no variation among the experts' values: alpha is undefined
    if task.kind == "continuous":
        return result  # Cohen's kappa needs categories
    # kappa on the canonical label text, in the task's own order (a 1-10 scale sorted as text
    # would put 10 between 1 and 2 and wreck the quadratic weights)
    text = experts.pivot_table(index="item_id", columns="rater", values="value", aggfunc="first").reindex(
        columns=raters)
    for a, b in combinations(raters, 2):
        both = text[[a, b]].dropna()
        if len(both) < 2:
            continue
        try:
            kappa = cohen_kappa_score(both[a], both[b], labels=task.labels,
                                      weights="quadratic" if task.kind == "ordinal" else None)
        except ValueError:
            kappa = float("nan")
        result["pairwise_cohen_kappa"].append({"a": a, "b": b, "n": int(len(both)), "kappa": float(kappa)})
    return result


def report(db: Database, task: Task, *, labelers: list[str] | None = None, group_by: str | None = None,
           n_resamples: int = 1000, seed: int = 0, gold_release: int | None = None) -> dict:
    """The JSON document of `labelgate report`: gold, human reliability and every labeler's metrics,
    against gold release `gold_release` (default: the latest, else the draft).

    The top level is about the task's first criterion (a one-question task: its only one), as before
    criteria existed; `criteria` holds the same document (gold, humans, labelers) for every criterion,
    with its name, kind, rate option and the share of items whose experts split.

    Every row is read first, in one open of the file (a handful of queries for all criteria together);
    the numbers are computed after, with the file free for others."""
    names = [task.view] if task.view is not None else task.criterion_names
    with db.session() as s:
        configs = current_versions(s, task.task_id)
        if labelers:
            unknown = sorted(set(labelers) - set(configs["name"]))
            if unknown:
                raise LookupError(f"no labeler named {', '.join(unknown)} for task {task.name}; known: "
                                  f"{', '.join(configs['name']) or 'none'}")
            configs = configs[configs["name"].isin(labelers)]
        groups = None
        if group_by:
            meta = item_meta_frame(s, task.task_id)
            if group_by not in meta.columns:
                raise ValueError(f"no metadata column {group_by!r} to group by; available: "
                                 f"{', '.join(c for c in meta.columns if c != 'item_id') or 'none'}")
            groups = meta.set_index("item_id")[group_by]
        latest = latest_release(s, task)
        progress = draft_progress(s, task, latest)
        inputs = _read_inputs(s, task, names, configs, gold_release if gold_release is not None
                              else (latest.number if latest else None))
    per = [_criterion_report(task.criterion(n), inputs[n], configs, groups, n_resamples=n_resamples, seed=seed)
           for n in names]
    first = per[0]
    return {"task": task.name, "kind": task.kind,
            "gold": {**first["gold"], "latest_release": progress.release.number if progress.release else None,
                     "unreleased_answers": progress.answers_since, "draft": progress.describe()},
            "humans": first["humans"], "labelers": first["labelers"], "criteria": per}


@dataclass(frozen=True)
class _Inputs:
    """The rows one criterion's part of the report rests on (read by _read_inputs)."""

    experts: pd.DataFrame
    gold: Gold | None                 # a release's gold; None: derive the draft from the rows below
    adjudicated: pd.DataFrame | None
    flagged: list[str] | None
    release_agreement: dict | None    # a release's stored expert agreement
    judgments: pd.DataFrame
    outputs: pd.DataFrame             # labeler -> n_labels, n_invalid


def _read_inputs(db: Database, task: Task, names: list[str], configs: pd.DataFrame,
                 release: int | None) -> dict[str, _Inputs]:
    """Every criterion's rows: expert labels, LLM judgments and output counts each in one query for all
    criteria; the gold release's items (or the draft's adjudications and flags) per criterion."""
    versions = list(zip(configs["name"], configs["version"], strict=True))
    experts = gold_store.expert_labels(db, task.task_id, criterion=None)
    judgments = gold_store.llm_judgments(db, task.task_id, labelers=versions, criterion=None)
    outputs = gold_store.judge_output_counts_by_criterion(db, task.task_id, versions, names)
    by_expert = {c: f.drop(columns="criterion").reset_index(drop=True) for c, f in experts.groupby("criterion")}
    by_judge = {c: f.reset_index(drop=True) for c, f in judgments.groupby("criterion")}
    agreement = None
    if release is not None:
        rel = get_release(db, task, release)
        agreement = {"n_raters": int(rel.expert_agreement.get("n_raters", 0)), "krippendorff_alpha": rel.expert_alpha,
                     "pairwise_cohen_kappa": list(rel.expert_agreement.get("pairwise_cohen_kappa", []))}
    out = {}
    for name in names:
        view = task.criterion(name)
        ex = by_expert.get(name, experts.iloc[:0].drop(columns="criterion"))
        gold = adjudicated = flagged = None
        if release is not None:
            gold = release_gold(db, view, release)
        else:
            adjudicated = gold_store.latest_adjudications(db, task.task_id, criterion=name)
            flagged = gold_store.flagged_items(db, task.task_id, criterion=name)
        out[name] = _Inputs(ex, gold, adjudicated, flagged, agreement, by_judge.get(name, judgments.iloc[:0]),
                            outputs[outputs["criterion"] == name].set_index("labeler"))
    return out


def _criterion_report(view: Task, inp: _Inputs, configs: pd.DataFrame, groups, *, n_resamples: int,
                      seed: int) -> dict:
    """One criterion's part of the report (view: Task.criterion(name)), from the rows _read_inputs read."""
    experts = inp.experts
    gold = inp.gold if inp.gold is not None else derive_gold(view, experts, inp.adjudicated, flagged=inp.flagged)
    judgments = inp.judgments
    by_labeler = dict(iter(judgments.groupby("labeler", sort=False)))
    cache: dict = {}  # every labeler is compared with the same gold: one set of resamples, the gold's ranks once
    out_labelers = []
    for c in configs.itertuples():
        mine = by_labeler.get(c.name, judgments.iloc[:0])
        pairs = judgments_vs_gold(view, gold, mine)
        metrics = labeler_metrics(view, pairs, n_resamples=n_resamples, seed=seed, group_by=groups, cache=cache)
        out_labelers.append({"name": c.name, "family": c.family, "version": c.version, "n": pairs.n_items,
                             "invalid_outputs": invalid_outputs(*inp.outputs.loc[c.name, ["n_labels", "n_invalid"]]),
                             "metrics": {k: _est(v) for k, v in metrics.items()}})
    del cache
    if inp.release_agreement is not None:
        humans = dict(inp.release_agreement)
    else:
        humans = dict(human_reliability(view, experts, n_resamples=n_resamples, seed=seed))
    if humans["krippendorff_alpha"] is not None:
        humans["krippendorff_alpha"] = _est(humans["krippendorff_alpha"])
    crit = view.criteria[0]
    out = {"name": crit.name, "kind": crit.kind, "rate": crit.rate,
           "gold": {"release": gold.release, "n_items": gold.n_items, "n_disputed": gold.n_disputed},
           "humans": humans, "human_split": human_split(view, experts),
           "labelers": out_labelers}
    if crit.rate is not None:
        out["rates"] = criterion_rates(crit.rate, gold, judgments)
    return out


def criterion_rates(option: str, gold: Gold, judgments: pd.DataFrame) -> dict:
    """A rate criterion's share of `option` (e.g. the share of responses judged accurate): in the gold
    (Wilson CI), in each labeler's labels of every item it labeled (Wilson CI), the labeler's bias
    (its share on the gold items minus the gold's), and the PPI++ estimate of the share over the
    labeler's items, with the gold correcting it (qc.inference.ppi_proportion_ci)."""
    from qc.inference import ppi_proportion_ci
    from qc.uncertainty import wilson_interval

    g = gold.labels.set_index("item_id")["value"].astype(str)
    res: dict = {"option": option, "gold": None, "labelers": {}}
    if len(g):
        res["gold"] = _est(wilson_interval(int((g == option).sum()), len(g)))
    for name, j in judgments.groupby("labeler", sort=True):
        # one label per item: the most frequent of its judgments (orders, samples), first in sort order on a tie
        per = (j.assign(value=j["value"].astype(str)).groupby(["item_id", "value"]).size().rename("n").reset_index()
               .sort_values(["item_id", "n", "value"], ascending=[True, False, True])
               .drop_duplicates("item_id").set_index("item_id")["value"])
        if per.empty:
            continue
        entry = {"n_items": int(len(per)), "rate": _est(wilson_interval(int((per == option).sum()), len(per))),
                 "bias": None, "ppi": None}
        on_gold = per.index.intersection(g.index)
        if len(on_gold):
            entry["bias"] = float((per.loc[on_gold] == option).mean() - (g.loc[on_gold] == option).mean())
            rest = per.drop(on_gold)
            if len(rest) and len(on_gold) >= 2:
                y, yhat = g.loc[on_gold].to_numpy(object), per.loc[on_gold].to_numpy(object)
                entry["ppi"] = _est(ppi_proportion_ci(y, yhat, rest.to_numpy(object), positive=option))
        res["labelers"][name] = entry
    return res


def human_split(task: Task, experts: pd.DataFrame) -> dict:
    """Items with two or more expert answers, and how many of them split (not every expert gave the same
    label; continuous: values further apart than a tenth of the range), with the share's 95% Wilson CI."""
    from qc.uncertainty import wilson_interval

    if experts.empty:
        return {"n_items": 0, "n_split": 0, "share": None, "ci_low": None, "ci_high": None}
    g = experts.groupby("item_id")
    n = g["rater"].nunique()
    multi = n[n >= 2].index
    if task.kind == "continuous":
        lo, hi = task.spec["range"]
        spread = g["value_num"].agg(lambda v: v.max() - v.min())
        split = spread.loc[multi] > 0.1 * (hi - lo) + 1e-12
    else:
        split = g["value"].nunique().loc[multi] > 1
    k, n_split = len(multi), int(split.sum())
    ci = _est(wilson_interval(n_split, k)) if k else {"ci_low": None, "ci_high": None}
    return {"n_items": int(k), "n_split": n_split, "share": n_split / k if k else None,
            "ci_low": ci["ci_low"], "ci_high": ci["ci_high"]}


def invalid_outputs(n_labels: int, n_invalid: int) -> dict:
    """A labeler's outputs that were not a label of the task: count, of how many, and the rate."""
    total = int(n_labels) + int(n_invalid)
    return {"n_invalid": int(n_invalid), "n_outputs": total, "rate": int(n_invalid) / total if total else None}


def _est(e: Estimate) -> dict:
    d = e.to_dict()
    out = {"estimate": d["estimate"], "ci_low": d["ci_low"], "ci_high": d["ci_high"]}
    if isinstance(e, GroupedEstimate):  # the groups a per-group mean rests on, and those it could not use
        out.update(n_groups=e.n, n_groups_skipped=e.n_skipped)
    return out
