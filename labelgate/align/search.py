"""Search: run a list (or grid) of variants on the dev split within a budget, stop the dominated ones early,
and propose the best by the task's gate metric.

The rule, in order of the variants:

1. Budget. Before a variant's next chunk, the cost of its calls not yet cached is estimated (dollars, as
   `align run` estimates; calls, counted exactly); a chunk that would take the spending past the budget is
   not started, and the search stops there ("budget spent"). Cached calls are free.
2. First chunk. Every variant first labels the first `first_chunk` dev items (default: a third of dev, at
   least 10), in item-id order, so all variants are compared on the same items.
3. Dominated. After its first chunk a variant is compared with the current best, paired on the dev items
   both labeled: when the upper bound of the paired bootstrap 95% CI of the gate metric's difference
   (variant minus best) is below 0, it is clearly worse and gets no more items ("dominated").
4. Otherwise it labels the rest of dev; the best is the complete variant with the highest gate metric
   on the whole dev split. The proposal is that best.

Nothing here reads test.
"""

from __future__ import annotations

import math
from dataclasses import replace

from labelgate.align.compare import compare
from labelgate.align.promote import gate_metric
from labelgate.align.variants import BuiltVariant, Variant, _uncached_units, build_variants
from labelgate.llm.preflight import estimate_run_cost
from labelgate.llm.runner import RunOptions, run_sync
from labelgate.store import Database
from labelgate.store.labelers import save_labeler
from labelgate.tasks import Task

RULE = ("each variant labels a first chunk of dev; it is dominated, and stops, when the upper bound of the "
        "paired bootstrap 95% CI of the gate metric's difference against the current best is below 0; "
        "a chunk that would pass the budget is not started")


def _chunk_cost(db: Database, b: BuiltVariant, units) -> tuple[int, float]:
    """(calls not yet cached, their estimated dollars) of running `b` on `units`."""
    todo = _uncached_units(db, replace(b.plan, units=tuple(units)))
    if not todo:
        return 0, 0.0
    plan = replace(b.plan, units=tuple(todo))
    return plan.n_calls, estimate_run_cost(plan).likely_usd


def search(db: Database, task: Task, variants: list[Variant], *, budget_usd: float | None = None,
           budget_calls: int | None = None, first_chunk: int | None = None, options: RunOptions | None = None,
           created_by: str = "cli", gold_release: int | None = None, n_resamples: int = 2000, seed: int = 0) -> dict:
    """Run `variants` on dev by the rule above; returns every variant's outcome and the proposal."""
    for name, v in (("--budget-usd", budget_usd), ("--budget-calls", budget_calls)):
        if v is not None and (not math.isfinite(v) or v < 0):
            raise ValueError(f"{name} must be a non-negative amount, got {v:g}")
    built = build_variants(db, task, variants, gold_release=gold_release)
    n_dev = len(built[0].plan.units)
    chunk = first_chunk if first_chunk is not None else max(10, n_dev // 3)
    if chunk < 2:
        raise ValueError(f"--first-chunk must be at least 2 dev items, got {chunk}")
    chunk = min(chunk, n_dev)
    metric = gate_metric(task)
    spent_usd, calls, stopped = 0.0, 0, None
    best: str | None = None
    best_score = -math.inf
    out = []

    def run(b: BuiltVariant, units) -> bool:
        nonlocal spent_usd, calls, stopped
        n, usd = _chunk_cost(db, b, units)
        if (budget_calls is not None and calls + n > budget_calls) or \
                (budget_usd is not None and spent_usd + usd > budget_usd + 1e-12):
            stopped = (f"budget spent: {b.config.name}'s next {len(units)} dev items need {n} uncached calls "
                       f"(~${usd:,.4f}); spent {calls} calls, ${spent_usd:,.4f}")
            return False
        save_labeler(db, task.task_id, b.config, created_by=created_by)
        result = run_sync(db, replace(b.plan, units=tuple(units)), options or RunOptions(), started_by=created_by)
        spent_usd += result.cost_usd
        calls += result.requests
        b.extra["requests"] = b.extra.get("requests", 0) + result.requests
        b.extra["labeled"] = b.extra.get("labeled", 0) + result.done
        b.extra["failed"] = b.extra.get("failed", 0) + result.failed
        return True

    for b in built:
        name = b.config.name
        row = {"name": name, "version": b.config.version, "few_shot": b.variant.few_shot,
               "reasoning": b.variant.reasoning, "model": b.config.model, "status": "not run"}
        out.append(row)
        if stopped:
            continue
        units = b.plan.units
        if not run(b, units[:chunk]):
            row["status"] = "not run: budget spent"
            continue
        if best is not None:
            d = compare(db, task, [name, best], n_resamples=n_resamples, seed=seed,
                        gold_release=gold_release)["metrics"].get(metric)
            row["versus_best"] = {"best": best, "n_items": chunk, **({k: d[k] for k in ("estimate", "ci_low",
                                                                                        "ci_high")} if d else {})}
            if d and d["ci_high"] is not None and d["ci_high"] < 0:
                row["status"] = "dominated"
                row.update({k: b.extra.get(k, 0) for k in ("labeled", "failed", "requests")})
                continue
        if len(units) > chunk and not run(b, units[chunk:]):
            row["status"] = "partial: budget spent"
            row.update({k: b.extra.get(k, 0) for k in ("labeled", "failed", "requests")})
            continue
        row["status"] = "complete"
        row.update({k: b.extra.get(k, 0) for k in ("labeled", "failed", "requests")})
        score = _dev_score(db, task, name, metric, gold_release)
        row[metric] = score
        if score is not None and score["estimate"] is not None and score["estimate"] > best_score:
            best, best_score = name, score["estimate"]
    return {"task": task.name, "part": "dev", "n_dev_items": n_dev, "first_chunk": chunk, "gate_metric": metric,
            "rule": RULE, "budget_usd": budget_usd, "budget_calls": budget_calls, "spent_usd": round(spent_usd, 6),
            "calls": calls, "stopped": stopped, "proposed": best, "variants": out}


def _dev_score(db: Database, task: Task, name: str, metric: str, gold_release: int | None) -> dict | None:
    from labelgate.align.promote import dev_metrics
    from labelgate.gold import resolve_gold

    got, _ = dev_metrics(db, task, name, gold=resolve_gold(db, task, gold_release))
    return got.get(metric)
