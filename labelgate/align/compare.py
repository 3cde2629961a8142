"""Two labelers compared on the dev split (paired), and the recorded final evaluation on test.

Only `final_evaluation` reads test labels-versus-gold, and each call is recorded (who, when,
which labeler version) and counted, so a reader can see how often test has been looked at.
"""

from __future__ import annotations

import json

import pandas as pd

from labelgate.align.splits import Split, split_for
from labelgate.analysis import ALPHA_LEVEL, CATEGORICAL_METRICS, judgments_vs_gold, labeler_metrics
from labelgate.auth import can_evaluate_final
from labelgate.gold import Gold, resolve_gold
from labelgate.store import Database
from labelgate.store import align as store
from labelgate.store import gold as gold_store
from labelgate.store.labelers import current_versions
from labelgate.store.users import User
from labelgate.tasks import Task
from qc.paired import mcnemar_test, paired_bootstrap_cis

# the metrics compared per task kind (display order); alpha at the task's level of measurement
PAIRED_BY_KIND = {
    "categorical": ["accuracy", "cohen_kappa", "macro_f1"],
    "pairwise": ["accuracy", "cohen_kappa", "macro_f1"],
    "ordinal": ["accuracy", "quadratic_kappa", "spearman", "krippendorff_alpha"],
    "continuous": ["spearman", "krippendorff_alpha"],
}
N_RESAMPLES = 2000


def compare_metrics(task: Task) -> list[str]:
    """The metrics the lab compares for the task's kind, in display order."""
    return list(PAIRED_BY_KIND[task.kind])


def _versions(db: Database, task: Task, names: list[str]) -> dict[str, str]:
    configs = current_versions(db, task.task_id)
    known = dict(zip(configs["name"], configs["version"], strict=True))
    unknown = [n for n in names if n not in known]
    if unknown:
        raise LookupError(f"no labeler named {', '.join(unknown)} for task {task.name}; known: "
                          f"{', '.join(known) or 'none'}")
    return {n: known[n] for n in names}


def _pairs(db: Database, task: Task, gold: Gold, versions: dict[str, str], items: list[str]) -> dict:
    """Each labeler's judgments beside the gold, on `items` only."""
    judgments = gold_store.llm_judgments(db, task.task_id, labelers=list(versions.items()), item_ids=items,
                                         criterion=task.criterion_name)
    return {n: judgments_vs_gold(task, gold, judgments[judgments["labeler"] == n]).frame for n in versions}


def _columns(task: Task, name: str) -> tuple[str, str, str, list | None]:
    """(gold column, prediction column, qc metric, labels) of one metric, as labelgate.analysis uses them."""
    discrete = name in CATEGORICAL_METRICS or (name == "krippendorff_alpha" and not task.is_numeric)
    metric = f"krippendorff_alpha_{ALPHA_LEVEL[task.kind]}" if name == "krippendorff_alpha" else name
    if discrete:
        return "gold", "pred", metric, list(task.labels) or None
    return "gold_num", "pred_num", metric, None


def compare(db: Database, task: Task, labelers: list[str], *, n_resamples: int = N_RESAMPLES, seed: int = 0,
            gold_release: int | None = None, gold: Gold | None = None) -> dict:
    """Labelers A and B on the dev split: per metric the paired difference A - B with a paired bootstrap
    95% CI over items, and McNemar's test for accuracy. Test items are never read.

    Against gold release `gold_release` (default: the latest, else the draft), or the snapshot `gold`.
    """
    if len(labelers) != 2 or labelers[0] == labelers[1]:
        raise ValueError(f"compare needs two different labelers A,B; got {', '.join(labelers) or 'none'}")
    with db.session() as s:   # one open of the file for the reads
        gold = gold if gold is not None else resolve_gold(s, task, gold_release)
        split = split_for(s, task, gold)
        versions = _versions(s, task, labelers)
        pairs = _pairs(s, task, gold, versions, split.ids("dev"))
    return _paired(task, split, labelers, versions, pairs, n_resamples=n_resamples, seed=seed)


def _paired(task: Task, split: Split, labelers: list[str], versions: dict[str, str], pairs: dict, *,
            n_resamples: int, seed: int) -> dict:
    """`compare` on judgments already read (side_by_side reads every variant's once)."""
    a_name, b_name = labelers
    keys = ["item_id", "shown_order"]
    both = pairs[a_name].merge(pairs[b_name][keys + ["pred", "pred_num"]], on=keys, suffixes=("_a", "_b"))
    out = {"task": task.name, "kind": task.kind, "split_id": split.split_id, "gold": split.gold_name,
           "part": "dev", "n_dev_items": len(split.ids("dev")), "n_items": int(both["item_id"].nunique()),
           "n_judgments": len(both), "a": {"name": a_name, "version": versions[a_name]},
           "b": {"name": b_name, "version": versions[b_name]}, "difference": "A - B", "metrics": {}}
    if both["item_id"].nunique() < 2:
        out["note"] = "fewer than 2 dev items labeled by both labelers: nothing to compare"
        return out
    groups = both["item_id"].to_numpy() if both["item_id"].duplicated().any() else None
    data = {}
    for name in PAIRED_BY_KIND[task.kind]:
        g, p, metric, labels = _columns(task, name)
        data[name] = (both[g].to_numpy(), both[f"{p}_a"].to_numpy(), both[f"{p}_b"].to_numpy(), metric, labels)
    diffs = paired_bootstrap_cis(data, n_resamples=n_resamples, seed=seed, groups=groups)
    for name, e in diffs.items():
        d = e.to_dict()
        out["metrics"][name] = {"estimate": d["estimate"], "ci_low": d["ci_low"], "ci_high": d["ci_high"],
                                "method": e.method}
    if "accuracy" in out["metrics"]:
        # McNemar needs independent items: one judgment per item (the first presentation order)
        one = both.sort_values(keys).drop_duplicates("item_id")
        m = mcnemar_test(one["gold"], one["pred_a"], one["pred_b"])
        out["metrics"]["accuracy"]["mcnemar_p"] = m.pvalue
        out["metrics"]["accuracy"]["mcnemar"] = m.to_dict() | {
            "n_items": len(one), "on": "one judgment per item (the first presentation order)" if groups is not None
            else "every item"}
    return out


def final_evaluation(db: Database, task: Task, labeler: str, *, user: User, n_resamples: int = N_RESAMPLES,
                     seed: int = 0, gold_release: int | None = None, options=None) -> dict:
    """The labeler's metrics on the sealed test split, computed now, recorded and counted.

    A labeler the lab runs (not an imported one) is first run on the test items it has not labeled
    (batch align-test, through the runner and its cache): variants never see test before this call."""
    if not can_evaluate_final(user.role):
        raise PermissionError(f"{user.name} is {user.role}: only engineers and leads run a final evaluation on test")
    gold = resolve_gold(db, task, gold_release)
    split: Split = split_for(db, task, gold)
    versions = _versions(db, task, [labeler])
    ran = label_items(db, task, labeler, split.ids("test"), batch=TEST_BATCH, user=user, options=options)
    pairs = _pairs(db, task, gold, versions, split.ids("test"))[labeler]
    from labelgate.analysis import Pairs

    metrics = labeler_metrics(task, Pairs(pairs), n_resamples=n_resamples, seed=seed)
    shown = {k: {f: v.to_dict()[f] for f in ("estimate", "ci_low", "ci_high")} for k, v in metrics.items()}
    n_items = int(pairs["item_id"].nunique()) if not pairs.empty else 0
    final_id, looks = store.record_final(db, split_id=split.split_id, task_id=task.task_id, labeler=labeler,
                                         labeler_version=versions[labeler], n_items=n_items, metrics=shown,
                                         created_by=user.name)
    return {"task": task.name, "final_id": final_id, "split_id": split.split_id, "gold": split.gold_name,
            "part": "test", "labeler": labeler, "version": versions[labeler], "n_test_items": len(split.ids("test")),
            "n_items": n_items, "metrics": shown, "test_looks": looks, "by": user.name, "run": ran}


TEST_BATCH = "align-test"


def label_items(db: Database, task: Task, labeler: str, item_ids: list[str], *, batch: str, user: User,
                options=None) -> dict | None:
    """Run a labeler on those of `item_ids` its current version has not labeled (the runner's cache answers what
    was asked before); None for an imported labeler (its labels came in a file) or when nothing is missing."""
    from labelgate.llm.runner import RunOptions, plan_items, run_sync
    from labelgate.store.labelers import get_labeler

    config = get_labeler(db, task.task_id, labeler)
    if config.provider == "import" or store.imported_labels(db, task.task_id, labeler, config.version):
        return None
    missing = sorted(set(item_ids) - store.labeled_items(db, task.task_id, labeler, config.version, item_ids))
    if not missing:
        return None
    result = run_sync(db, plan_items(db, task, config, missing, batch=batch), options or RunOptions(),
                      started_by=user.name)
    return {"run_id": result.run_id, "status": result.status, "labeled": result.done, "failed": result.failed,
            "requests": result.requests, "cached_calls": result.cached_calls, "cost_usd": round(result.cost_usd, 6)}


def test_looks(db: Database, split: Split) -> int:
    """How many final evaluations have read the split's test items."""
    return store.count_finals(db, split.split_id)


def final_history(db: Database, task: Task) -> pd.DataFrame:
    """Every final evaluation of the task (who, when, which labeler version, metrics as dicts)."""
    df = store.final_evaluations(db, task.task_id)
    if not df.empty:
        df["metrics"] = df["metrics"].map(json.loads)
    return df


def pareto_front(cost: list[float | None], score: list[float | None]) -> list[bool]:
    """Whether each point is on the cost-versus-agreement Pareto front: no other point costs no more
    and agrees at least as well, being strictly better on one (a point without both is not on it)."""
    out = []
    for i, (c, s) in enumerate(zip(cost, score, strict=True)):
        if c is None or s is None:
            out.append(False)
            continue
        out.append(not any(j != i and c2 is not None and s2 is not None and c2 <= c and s2 >= s
                           and (c2 < c or s2 > s) for j, (c2, s2) in enumerate(zip(cost, score, strict=True))))
    return out


def side_by_side(db: Database, task: Task, labelers: list[str], *, baseline: str | None = None,
                 n_resamples: int = N_RESAMPLES, seed: int = 0, gold_release: int | None = None,
                 gold: Gold | None = None) -> dict:
    """Several labelers on the dev split, one row each: the task's agreement metrics with bootstrap 95% CIs,
    the invalid-output rate, tokens, cost and latency per item, and the paired difference of every metric
    against `baseline` (default: the first) with McNemar's p for accuracy. The Pareto front is of cost
    per item against the first metric. Test items are never read."""
    from labelgate.analysis import Pairs

    names = list(dict.fromkeys(n.strip() for n in labelers if n.strip()))
    if not names:
        raise ValueError("side by side needs at least one labeler")
    baseline = baseline or names[0]
    if baseline not in names:
        names.insert(0, baseline)
    with db.session() as s:   # every read in one open of the file; the statistics after it is released
        gold = gold if gold is not None else resolve_gold(s, task, gold_release)
        split = split_for(s, task, gold)
        versions = _versions(s, task, names)
        dev = split.ids("dev")
        pairs = _pairs(s, task, gold, versions, dev)
        usage = store.call_usage(s, task.task_id, list(set(versions.values())), dev).set_index("version")
    wanted = PAIRED_BY_KIND[task.kind]
    rows = []
    for name in names:
        f = pairs[name]
        metrics = labeler_metrics(task, Pairs(f), metrics=wanted, n_resamples=n_resamples, seed=seed)
        shown = {k: {x: metrics[k].to_dict()[x] for x in ("estimate", "ci_low", "ci_high")}
                 for k in wanted if k in metrics}
        u = usage.loc[versions[name]] if versions[name] in usage.index else None
        n_items = int(u["n_items"]) if u is not None else 0

        def per_item(col, u=u, n_items=n_items):
            return float(u[col]) / n_items if n_items else None

        row = {"name": name, "version": versions[name], "n_items": int(f["item_id"].nunique()) if not f.empty else 0,
               "metrics": shown,
               "invalid_rate": float(u["n_invalid"]) / float(u["n_calls"]) if u is not None and u["n_calls"] else None,
               "tokens_per_item": per_item("tokens"), "cost_per_item_usd": per_item("cost_usd"),
               "latency_ms_per_item": per_item("latency_ms")}
        if name != baseline:
            diff = _paired(task, split, [name, baseline], versions, pairs, n_resamples=n_resamples, seed=seed)
            row["versus_baseline"] = {"n_items": diff["n_items"], "metrics": {
                k: {x: m.get(x) for x in ("estimate", "ci_low", "ci_high", "mcnemar_p") if x in m}
                for k, m in diff["metrics"].items()}}
        rows.append(row)
    primary = wanted[0]
    front = pareto_front([r["cost_per_item_usd"] for r in rows],
                         [r["metrics"].get(primary, {}).get("estimate") for r in rows])
    for r, on in zip(rows, front, strict=True):
        r["pareto"] = on
    return {"task": task.name, "kind": task.kind, "split_id": split.split_id, "gold": split.gold_name, "part": "dev",
            "n_dev_items": len(dev), "baseline": baseline, "primary_metric": primary,
            "difference": "variant - baseline", "variants": rows}
