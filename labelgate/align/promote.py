"""Promote: the chosen variant, after its final evaluation on test, saved as the task's labeler for the gate.

`dev_versus_test` puts a labeler's dev numbers beside its latest final evaluation on test (the optimism
gap: dev minus test; tuning on dev makes dev look better than what a fresh sample gives). `promote`
refuses a variant without a final evaluation of its current version on the current split, saves it
under the name the gate will know it by (the same labeler version: the name is not part of it), labels
the dev and test items under that name through the runner (answered from the cache: nothing is paid
twice) and appends a promotion row (migration 0024) that the gate reads into its evidence.
"""

from __future__ import annotations

import math

from labelgate.align.compare import (
    PAIRED_BY_KIND,
    TEST_BATCH,
    _pairs,
    _versions,
    final_history,
    label_items,
)
from labelgate.align.splits import split_for
from labelgate.auth import can_evaluate_final
from labelgate.gold import Gold, resolve_gold
from labelgate.store import Database
from labelgate.store import align as store
from labelgate.store.labelers import get_labeler, save_labeler
from labelgate.store.users import User
from labelgate.tasks import Task

# the gate's agreement metric per task kind (labelgate.gate: kappa or alpha), as the lab names it
GATE_METRIC = {"categorical": "cohen_kappa", "pairwise": "cohen_kappa", "ordinal": "krippendorff_alpha",
               "continuous": "krippendorff_alpha"}


def gate_metric(task: Task) -> str:
    """The metric the gate judges this task's labelers by, and the lab proposes variants by."""
    return GATE_METRIC[task.kind]


def latest_final(db: Database, task: Task, labeler: str, version: str, split_id: int) -> dict | None:
    """The newest final evaluation of this labeler version on the split, or None."""
    df = final_history(db, task)
    if df.empty:
        return None
    df = df[(df["labeler"] == labeler) & (df["labeler_version"] == version) & (df["split_id"] == split_id)]
    return None if df.empty else df.iloc[-1].to_dict()


def dev_metrics(db: Database, task: Task, labeler: str, *, gold: Gold, n_resamples: int = 2000,
                seed: int = 0) -> tuple[dict, int]:
    """The labeler's paired-comparison metrics on the dev split with bootstrap CIs, and the dev items labeled."""
    from labelgate.analysis import Pairs, labeler_metrics

    split = split_for(db, task, gold)
    versions = _versions(db, task, [labeler])
    f = _pairs(db, task, gold, versions, split.ids("dev"))[labeler]
    if f.empty:
        return {}, 0
    wanted = PAIRED_BY_KIND[task.kind]
    got = labeler_metrics(task, Pairs(f), metrics=wanted, n_resamples=n_resamples, seed=seed)
    return ({k: {x: got[k].to_dict()[x] for x in ("estimate", "ci_low", "ci_high")} for k in wanted if k in got},
            int(f["item_id"].nunique()))


def dev_versus_test(db: Database, task: Task, labeler: str, *, gold: Gold | None = None,
                    gold_release: int | None = None) -> dict:
    """The labeler's dev metrics beside its latest final evaluation on test (never computes test itself).

    Returns {"final": the final evaluation row or None, "rows": [{metric, dev, test, gap}], ...}; with no
    final evaluation of the current version, test and gap are None."""
    gold = gold if gold is not None else resolve_gold(db, task, gold_release)
    split = split_for(db, task, gold)
    version = _versions(db, task, [labeler])[labeler]
    dev, n_dev = dev_metrics(db, task, labeler, gold=gold)
    final = latest_final(db, task, labeler, version, split.split_id)
    test = final["metrics"] if final else {}
    rows = []
    for m in PAIRED_BY_KIND[task.kind]:
        d, t = dev.get(m), test.get(m)
        gap = d["estimate"] - t["estimate"] if d and t and _finite(d["estimate"]) and _finite(t["estimate"]) \
            else None
        rows.append({"metric": m, "dev": d, "test": t, "gap": gap})
    return {"labeler": labeler, "version": version, "split_id": split.split_id, "gold": split.gold_name,
            "n_dev_items": n_dev, "n_test_items": int(final["n_items"]) if final else 0, "final": final,
            "gate_metric": gate_metric(task), "rows": rows, "test_looks": store.count_finals(db, split.split_id)}


def _finite(v) -> bool:
    return v is not None and math.isfinite(v)


class PromotionRefused(ValueError):
    """A variant that cannot be promoted (no final evaluation of its current version, a bad name)."""


def promote(db: Database, task: Task, variant: str, *, user: User, name: str | None = None,
            gold_release: int | None = None, options=None) -> dict:
    """Save `variant` as the task's labeler `name` (default: its own name) for the gate, carrying its dev and
    test numbers. Only engineers and leads; only after a final evaluation of its current version on test."""
    if not can_evaluate_final(user.role):
        raise PermissionError(f"{user.name} is {user.role}: only engineers and leads promote a variant to the gate")
    name = (name or variant).strip()
    if not name:
        raise PromotionRefused("name: the labeler needs a name")
    gold = resolve_gold(db, task, gold_release)
    split = split_for(db, task, gold)
    config = get_labeler(db, task.task_id, variant)
    version = config.version
    final = latest_final(db, task, variant, version, split.split_id)
    if final is None:
        raise PromotionRefused(f"{variant} (version {version}) has no final evaluation on the test split of "
                               f"{split.gold_name}: run the final evaluation first")
    if name != variant and store.imported_labels(db, task.task_id, variant, version):
        raise PromotionRefused(f"name: the labels of {variant} were imported from a file, so it keeps its name; "
                               f"save it as {variant}")
    if name != variant:
        try:
            existing = get_labeler(db, task.task_id, name)
        except LookupError:
            existing = None
        if existing is not None and existing.provider == "import":
            raise PromotionRefused(f"name: {name} is an imported labeler of {task.name}; choose another name")
        save_labeler(db, task.task_id, config.with_changes(name=name), created_by=user.name)
        from labelgate.align.variants import DEV_BATCH

        # its labels under the new name, from the cache
        label_items(db, task, name, split.ids("dev"), batch=DEV_BATCH, user=user, options=options)
        label_items(db, task, name, split.ids("test"), batch=TEST_BATCH, user=user, options=options)
    dev, n_dev = dev_metrics(db, task, variant, gold=gold)
    looks = store.count_finals(db, split.split_id)
    promotion_id = store.record_promotion(
        db, task_id=task.task_id, split_id=split.split_id, final_id=int(final["final_id"]), variant=variant,
        labeler=name, labeler_version=version, primary_metric=gate_metric(task), dev_metrics=dev,
        test_metrics=final["metrics"], n_dev_items=n_dev, n_test_items=int(final["n_items"]), test_looks=looks,
        created_by=user.name)
    return {"promotion_id": promotion_id, "task": task.name, "variant": variant, "labeler": name,
            "version": version, "final_id": int(final["final_id"]), "gate_metric": gate_metric(task),
            "dev": dev, "test": final["metrics"], "n_dev_items": n_dev, "n_test_items": int(final["n_items"]),
            "test_looks": looks, "by": user.name}


def gate_evidence(db: Database, task: Task, labeler: str, version: str) -> tuple[dict, str] | None:
    """(metrics, sentence) the gate adds from the latest promotion of this labeler version, or None.

    metrics: align_dev_<m> and align_test_<m> as {estimate, ci_low, ci_high}, align_optimism_gap (dev minus
    test of the gate metric), align_test_looks."""
    p = store.latest_promotion(db, task.task_id, labeler, version)
    if p is None:
        return None
    m = p["primary_metric"]
    out = {}
    for part in ("dev", "test"):
        for k, v in p[f"{part}_metrics"].items():
            out[f"align_{part}_{k}"] = v
    d, t = p["dev_metrics"].get(m), p["test_metrics"].get(m)
    gap = d["estimate"] - t["estimate"] if d and t and _finite(d["estimate"]) and _finite(t["estimate"]) else None
    out["align_optimism_gap"] = gap
    out["align_test_looks"] = int(p["test_looks"])

    def ci(e):
        return "–" if not e or not _finite(e.get("estimate")) else (
            f"{e['estimate']:.3f} [{_num(e['ci_low'])}, {_num(e['ci_high'])}]")

    via = f" (variant {p['variant']})" if p["variant"] != labeler else ""
    shown = {"cohen_kappa": "Cohen's kappa", "krippendorff_alpha": "Krippendorff's alpha"}.get(m, m)
    sentence = (f"promoted from the alignment lab{via} by {p['created_by']} on {p['created_at']:%Y-%m-%d %H:%M}: "
                f"{shown} on dev {ci(d)} ({p['n_dev_items']} items), on the sealed test split {ci(t)} "
                f"({p['n_test_items']} items, final evaluation #{p['final_id']}); optimism gap (dev minus test) "
                f"{'–' if gap is None else f'{gap:+.3f}'}; the test split had been looked at {p['test_looks']} "
                f"time{'s' if p['test_looks'] != 1 else ''}")
    return out, sentence


def _num(v) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:.3f}"
