"""Compare and review: labelers and the gold side by side, the disagreement queues, adjudication,
and the reliability of the experts themselves (agreement, consensus, test-retest)."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from labelgate.analysis import human_reliability
from labelgate.gold import Gold
from labelgate.store import Database
from labelgate.store import gold as gold_store
from labelgate.tasks import Task
from qc.estimate import Estimate
from qc.uncertainty import bootstrap_ci, wilson_interval

GOLD = "gold"
QUEUES = ("expert vs expert", "labeler vs gold", "labeler vs labeler")


def tolerance(task: Task) -> float:
    """Two numeric labels agree when this close: the same scale point, or 10% of a continuous range."""
    if task.kind == "ordinal":
        return 0.5
    if task.kind == "continuous":
        lo, hi = task.spec["range"]
        return 0.1 * (hi - lo)
    return 0.0


# ---------------------------------------------------------------------------- per-item labels
def item_labels(task: Task, gold: Gold, judgments: pd.DataFrame) -> dict:
    """Per rater (each labeler and "gold"), per item: label shares (discrete) or mean value (numeric).

    Returns {"shares": {rater: DataFrame items x labels}} or {"values": {rater: Series}}, plus
    "verdict": a DataFrame item_id x rater of each rater's label (discrete: the label most of its
    judgments give, None when its presentation orders or samples split evenly; numeric: the mean).
    """
    raters: dict[str, pd.DataFrame | pd.Series] = {}
    if task.is_numeric:
        for name, g in judgments.groupby("labeler", sort=True):
            raters[name] = g.groupby("item_id")["value_num"].mean()
        raters[GOLD] = gold.labels.set_index("item_id")["value_num"].astype(float)
        verdict = pd.DataFrame(raters)
        return {"values": raters, "verdict": verdict}
    labels = task.labels
    for name, g in judgments.groupby("labeler", sort=True):
        counts = pd.crosstab(g["item_id"], g["value"]).reindex(columns=labels, fill_value=0)
        raters[name] = counts.div(counts.sum(axis=1), axis=0)
    gl = gold.labels.set_index("item_id")["value"]
    raters[GOLD] = pd.get_dummies(gl).reindex(columns=labels, fill_value=0).astype(float)
    verdicts = {}
    for name, s in raters.items():
        top = s.max(axis=1)
        winners = (s.eq(top, axis=0)).sum(axis=1)
        verdicts[name] = s.idxmax(axis=1).where(winners == 1, None)
    return {"shares": raters, "verdict": pd.DataFrame(verdicts)}


def _pair_scores(task: Task, data: dict, a: str, b: str) -> pd.Series:
    """Per item both raters labeled: the chance a judgment of `a` matches one of `b` (discrete), or
    1/0 for means within the tolerance (numeric)."""
    if task.is_numeric:
        both = pd.concat([data[a], data[b]], axis=1, join="inner").dropna()
        return (np.abs(both.iloc[:, 0] - both.iloc[:, 1]) <= tolerance(task) + 1e-9).astype(float)
    shared = data[a].index.intersection(data[b].index)
    return (data[a].loc[shared] * data[b].loc[shared]).sum(axis=1)


def agreement_matrix(task: Task, per_item: dict) -> pd.DataFrame:
    """Agreement of every two raters over the items both labeled.

    Discrete kinds: the chance that a random judgment of one equals a random judgment of the
    other, averaged over items (against the gold, this is the accuracy over all orders and
    samples). Numeric kinds: the share of items whose mean labels lie within `tolerance`.
    """
    data = per_item.get("shares") or per_item["values"]
    names = list(data)
    out = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    for a, b in combinations(names, 2):
        scores = _pair_scores(task, data, a, b)
        out.loc[a, b] = out.loc[b, a] = float(scores.mean()) if len(scores) else np.nan
    return out


def agreement_pairs(task: Task, per_item: dict, order: list[str], *, n_resamples: int = 1000,
                    seed: int = 0) -> pd.DataFrame:
    """Every two raters (in `order`): the items both labeled, their agreement and its 95% CI.

    The CI is a percentile bootstrap over items. Each item counts once, whatever the number of
    its judgments (presentation orders, samples).
    """
    from qc.uncertainty import bootstrap_ci

    data = per_item.get("shares") or per_item["values"]
    rows = []
    for a, b in combinations([n for n in order if n in data], 2):
        scores = _pair_scores(task, data, a, b).to_numpy(float)
        if len(scores) == 0:
            rows.append((a, b, 0, np.nan, np.nan, np.nan))
            continue
        # the mean of scores in [0, 1] is their mean absolute difference from 0: qc's vectorized MAE bootstrap
        e = bootstrap_ci(np.zeros(len(scores)), scores, metric="mae", n_resamples=n_resamples, seed=seed)
        rows.append((a, b, len(scores), e.estimate, e.ci_low, e.ci_high))
    return pd.DataFrame(rows, columns=["rater", "other", "items", "agreement", "ci_low", "ci_high"])


def order_by_family(names: list[str], families: dict[str, str]) -> list[str]:
    """Raters grouped by family (gold last), so families form blocks in the matrix."""
    return sorted((n for n in names if n != GOLD), key=lambda n: (families.get(n, ""), n)) + \
        ([GOLD] if GOLD in names else [])


def cross_family_disagreements(task: Task, per_item: dict, families: dict[str, str]) -> pd.DataFrame:
    """Items on which two labelers of different families disagree.

    Columns: item_id, families (e.g. "gpt vs llama", every disagreeing family pair), one column
    per labeler with its label, and the gold (None when the item has none).
    """
    verdict = per_item["verdict"]
    labelers = [c for c in verdict.columns if c != GOLD]
    rows = []
    for item_id, row in verdict.iterrows():
        pairs = set()
        for a, b in combinations(labelers, 2):
            fa, fb = families.get(a, a), families.get(b, b)
            va, vb = row.get(a), row.get(b)
            if fa == fb or _missing(va) or _missing(vb):
                continue
            differ = abs(float(va) - float(vb)) > tolerance(task) + 1e-9 if task.is_numeric else va != vb
            if differ:
                pairs.add(" vs ".join(sorted((fa, fb))))
        if pairs:
            rows.append({"item_id": item_id, "families": ", ".join(sorted(pairs))})
    out = pd.DataFrame(rows, columns=["item_id", "families"])
    if out.empty:
        return out
    shown = verdict.loc[out["item_id"], labelers + ([GOLD] if GOLD in verdict.columns else [])]
    return out.join(shown.reset_index(drop=True)).sort_values("item_id").reset_index(drop=True)


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))


def labeler_vs_gold(task: Task, per_item: dict, labeler: str) -> pd.DataFrame:
    """Items where the labeler's judgments do not all match the gold: item_id, labeler, gold, agreement."""
    if labeler not in per_item["verdict"].columns or GOLD not in per_item["verdict"].columns:
        return pd.DataFrame(columns=["item_id", labeler, GOLD, "agreement"])
    v = per_item["verdict"][[labeler, GOLD]].dropna(subset=[GOLD])
    if task.is_numeric:
        v = v.dropna()
        agree = (np.abs(v[labeler] - v[GOLD]) <= tolerance(task) + 1e-9).astype(float)
    else:
        s, g = per_item["shares"][labeler], per_item["shares"][GOLD]
        shared = s.index.intersection(v.index)
        v = v.loc[shared]
        agree = (s.loc[shared] * g.loc[shared]).sum(axis=1)
    out = v.assign(agreement=agree)
    out = out[out["agreement"] < 1 - 1e-9]
    return out.rename_axis("item_id").reset_index()


# ------------------------------------------------------------------------------------ queue
def expert_vs_expert(gold: Gold) -> pd.DataFrame:
    """Items whose experts disagree and that nobody has adjudicated yet."""
    return gold.disputed.rename(columns={"values": "expert labels"})


def item_history(db: Database, task: Task, item_id: str) -> dict:
    """What a reviewer sees of one item: its text, every expert answer, every labeler's, adjudications."""
    from labelgate.store import items as item_store
    from labelgate.store import labels as label_store
    from labelgate.store import review as review_store

    items = item_store.get_items(db, task.task_id, [item_id])
    if items.empty:
        raise LookupError(f"no item {item_id!r} in task {task.name}")
    humans = label_store.human_labels(db, task.task_id, criterion=task.criterion_name)
    humans = humans[humans["item_id"] == item_id][["rater", "round", "status", "value", "shown_order", "comment",
                                                   "created_at", "rationale"]]
    llm = gold_store.llm_judgments(db, task.task_id, item_ids=[item_id], criterion=task.criterion_name)
    return {"fields": items.iloc[0]["fields"], "meta": items.iloc[0]["meta"], "experts": humans.reset_index(drop=True),
            "labelers": llm[["labeler", "version", "shown_order", "sample_index", "value", "confidence", "batch",
                             "rationale"]],
            "adjudications": review_store.adjudication_history(db, task.task_id, item_id,
                                                               criterion=task.criterion_name)}


def rationale_matches(db: Database, task: Task, query: str) -> pd.DataFrame:
    """The labels on `task`'s criterion whose rationale holds every word of `query` (case-insensitive),
    human answers first: item_id, by (rater or labeler), source (human | llm), value, rationale.
    An empty query matches nothing."""
    from labelgate.store import labels as label_store

    columns = ["item_id", "by", "source", "value", "rationale"]
    words = [w.casefold() for w in (query or "").split()]
    if not words:
        return pd.DataFrame(columns=columns)
    humans = label_store.human_labels(db, task.task_id, criterion=task.criterion_name)
    humans = humans[humans["status"] == "label"]
    llm = gold_store.llm_judgments(db, task.task_id, criterion=task.criterion_name)
    rows = pd.concat([
        pd.DataFrame({"item_id": humans["item_id"], "by": humans["rater"], "source": "human",
                      "value": humans["value"], "rationale": humans["rationale"]}),
        pd.DataFrame({"item_id": llm["item_id"], "by": llm["labeler"], "source": "llm", "value": llm["value"],
                      "rationale": llm["rationale"]})], ignore_index=True)
    rows = rows[rows["rationale"].notna()]
    text = rows["rationale"].astype(str).str.casefold()
    hit = pd.Series(True, index=rows.index)
    for w in words:
        hit &= text.str.contains(w, regex=False)
    return rows[hit].reset_index(drop=True).reindex(columns=columns)


def adjudicate(db: Database, task: Task, item_id: str, value, *, decided_by: str, reason: str) -> None:
    """Record the final gold label of an item (appended; the experts' own labels stay as they are)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("say why: an adjudication needs a reason")
    text, num = task.normalize_value(value)
    gold_store.append_adjudication(db, task.task_id, item_id, text, num, decided_by=decided_by, reason=reason,
                                    criterion=task.criterion_name)


# ------------------------------------------------------------------------- human reliability
def expert_reliability(task: Task, humans: pd.DataFrame, gold: Gold, *, n_resamples: int = 1000,
                       seed: int = 0) -> dict:
    """The app's experts among themselves, against the consensus, and against their own earlier labels.

    `humans`: every human answer (labelgate.store.labels.human_labels). Only answers given in the
    app (source "app") are experts' answers: imported human labels (a benchmark's majority, an
    earlier campaign) are measured apart, under "imported", and never counted as an expert.

    Returns "n_raters" (app experts with a first-round label), "alpha" (Estimate or None, among
    app experts), "kappa" (pairs of app experts with bootstrap CIs), "consensus" (each app
    expert's agreement with the gold of the items they labeled, Wilson CI), "retest" (each app
    expert's round 2 against their own round 1, Wilson CI), and "imported": the same "n_raters",
    "kappa" and "consensus" for the imported raters alone.
    """
    in_app = humans["source"] == "app"
    app = _reliability(task, humans[in_app], gold, n_resamples=n_resamples, seed=seed)
    imported = _reliability(task, humans[~in_app], gold, n_resamples=n_resamples, seed=seed)
    names = {"expert a": "rater a", "expert b": "rater b", "expert": "rater"}
    app["imported"] = {"n_raters": imported["n_raters"], "kappa": imported["kappa"].rename(columns=names),
                       "consensus": imported["consensus"].rename(columns=names)}
    return app


def reliability_by_domain(task: Task, humans: pd.DataFrame, gold: Gold, domains: pd.Series, *,
                          n_resamples: int = 1000, seed: int = 0) -> dict:
    """`expert_reliability` within each domain (routing by expertise): the app experts' pairwise
    agreement and each one's agreement with the consensus over the items of one domain.

    `domains`: item_id -> domain (the task's domain column; trimmed and lower-cased here, as routing
    compares them; items without one are left out). Returns "kappa" and "consensus": the tables of
    `expert_reliability` with a leading "domain" column, a row per domain and pair (or expert).
    """
    dom = domains.astype("string").str.strip().str.lower().replace("", pd.NA).dropna()
    app = humans[humans["source"] == "app"]
    kappa, consensus = [], []
    for name in sorted(dom.unique()):
        ids = set(dom.index[dom == name])
        rel = _reliability(task, app[app["item_id"].isin(ids)], gold, n_resamples=n_resamples, seed=seed)
        kappa.append(rel["kappa"].assign(domain=name))
        consensus.append(rel["consensus"].assign(domain=name))
    cols_k = ["domain", "expert a", "expert b", "items", "metric", "estimate", "ci_low", "ci_high"]
    cols_c = ["domain", "expert", "items", "agreement", "ci_low", "ci_high"]
    frame = lambda parts, cols: (pd.concat(parts, ignore_index=True)[cols] if parts  # noqa: E731
                                 else pd.DataFrame(columns=cols))
    return {"kappa": frame(kappa, cols_k), "consensus": frame(consensus, cols_c)}


def _reliability(task: Task, humans: pd.DataFrame, gold: Gold, *, n_resamples: int, seed: int) -> dict:
    labeled = humans[humans["status"] == "label"]
    first = labeled[labeled["round"] == 1]
    rel = human_reliability(task, first, n_resamples=n_resamples, seed=seed)
    weights = "quadratic_kappa" if task.kind == "ordinal" else "cohen_kappa"
    col = "value_num" if task.kind == "continuous" else "value"
    wide = first.pivot_table(index="item_id", columns="rater", values=col, aggfunc="first")
    kappas = []
    for a, b in combinations(sorted(wide.columns), 2):
        both = wide[[a, b]].dropna()
        if len(both) < 2:
            continue
        row = {"expert a": a, "expert b": b, "items": len(both)}
        if task.kind == "continuous":
            agree = (np.abs(both[a] - both[b]) <= tolerance(task) + 1e-9)
            e = wilson_interval(int(agree.sum()), len(both))
            row.update(metric="agreement within 10% of the range", estimate=e.estimate, ci_low=e.ci_low,
                       ci_high=e.ci_high)
        else:
            try:
                e = bootstrap_ci(both[a].astype(str).to_numpy(), both[b].astype(str).to_numpy(), metric=weights,
                                 n_resamples=n_resamples, seed=seed, labels=task.labels)
                row.update(metric=weights.replace("_", " "), estimate=e.estimate, ci_low=e.ci_low, ci_high=e.ci_high)
            except ValueError:
                row.update(metric=weights.replace("_", " "), estimate=np.nan, ci_low=np.nan, ci_high=np.nan)
        kappas.append(row)
    consensus = []
    g = gold.labels.set_index("item_id")
    for rater, rows in first.groupby("rater"):
        shared = rows[rows["item_id"].isin(g.index)]
        if shared.empty:
            continue
        agree = _agree(task, shared, g.loc[shared["item_id"]])
        e = wilson_interval(int(agree.sum()), len(agree))
        consensus.append({"expert": rater, "items": len(agree), "agreement": e.estimate, "ci_low": e.ci_low,
                          "ci_high": e.ci_high})
    retest = []
    second = labeled[labeled["round"] == 2]
    for rater, rows in second.groupby("rater"):
        earlier = first[first["rater"] == rater].set_index("item_id")
        rows = rows[rows["item_id"].isin(earlier.index)]
        if rows.empty:
            continue
        agree = _agree(task, rows, earlier.loc[rows["item_id"]])
        e = wilson_interval(int(agree.sum()), len(agree))
        retest.append({"expert": rater, "retested items": len(agree), "same label as before": e.estimate,
                       "ci_low": e.ci_low, "ci_high": e.ci_high})
    return {"n_raters": rel["n_raters"], "alpha": rel["krippendorff_alpha"],
            "kappa": pd.DataFrame(kappas, columns=["expert a", "expert b", "items", "metric", "estimate", "ci_low",
                                                   "ci_high"]),
            "consensus": pd.DataFrame(consensus, columns=["expert", "items", "agreement", "ci_low", "ci_high"]),
            "retest": pd.DataFrame(retest, columns=["expert", "retested items", "same label as before", "ci_low",
                                                    "ci_high"])}


def _agree(task: Task, rows: pd.DataFrame, ref: pd.DataFrame) -> np.ndarray:
    if task.is_numeric:
        return np.abs(rows["value_num"].to_numpy(float) - ref["value_num"].to_numpy(float)) <= tolerance(task) + 1e-9
    return rows["value"].to_numpy(dtype=object) == ref["value"].to_numpy(dtype=object)


def describe(e: Estimate | None) -> str:
    if e is None:
        return "–"
    return f"{e.estimate:.3f} [{e.ci_low:.3f}, {e.ci_high:.3f}]"


def variant_disagreements(task: Task, per_item: dict, labelers: list[str], item_ids) -> pd.DataFrame:
    """Items of `item_ids` (the alignment lab's dev split) where one of `labelers` disagrees with the gold or
    two of them disagree with each other: item_id, "disagreement" (with gold, with each other, or both), each
    labeler's label (None: its judgments split evenly, or it did not label the item) and the gold."""
    verdict = per_item["verdict"]
    names = [n for n in labelers if n in verdict.columns]
    cols = names + ([GOLD] if GOLD in verdict.columns else [])
    v = verdict.loc[verdict.index.intersection(list(item_ids)), cols]

    def differ(a, b) -> bool:
        if _missing(a) or _missing(b):
            return False
        return abs(float(a) - float(b)) > tolerance(task) + 1e-9 if task.is_numeric else a != b

    rows = []
    for item_id, row in v.iterrows():
        given = [n for n in names if not _missing(row[n])]
        with_gold = any(differ(row[n], row.get(GOLD)) for n in given)
        each_other = any(differ(row[a], row[b]) for a, b in combinations(given, 2))
        if with_gold or each_other:
            what = "with gold and each other" if with_gold and each_other else "with gold" if with_gold \
                else "with each other"
            rows.append({"item_id": item_id, "disagreement": what})
    out = pd.DataFrame(rows, columns=["item_id", "disagreement"])
    if out.empty:
        return out
    shown = v.loc[out["item_id"]].reset_index(drop=True)
    return out.join(shown).sort_values("item_id").reset_index(drop=True)
