"""Variants: labeler versions to try on the dev split, read from a YAML or JSON list.

Each entry of the file is one variant::

    - name: mini-4shot            # the labeler name it is saved under (required)
      provider: openai            # openai | anthropic | openai-compatible (required)
      model: gpt-4o-mini          # (required)
      base_url: http://127.0.0.1:8000/v1
      api_key_env: OPENAI_API_KEY
      prompt: "Review:\\n{item}\\n\\nAnswer with one of: {labels}."   # template (default: the task's)
      temperature: 0.0
      samples: 1                  # samples per item
      reasoning: false            # true: the prompt asks to reason about the rubric before the label
      few_shot: 4                 # k train examples, rendered with their gold labels
      seed: 0                     # which k train examples (stratified by gold label)
      max_tokens: 256
      both_orders: false          # pairwise tasks: ask in both presentation orders

`build_variants` checks every entry (a bad one is refused naming its index and field, before
anything is saved), draws the few-shot examples from the train split only (labelgate.align.fewshot)
and returns the labeler configs: the examples are rendered into the template, so the chosen
example ids are part of the labeler version. `run_variants` estimates what is not yet cached,
refuses over a budget before any call, then saves each variant as a labeler version and runs it on
the dev split through the runner and its cache (a re-run sends nothing).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

from labelgate.align.fewshot import few_shot_labeler
from labelgate.align.splits import split_for
from labelgate.gold import resolve_gold
from labelgate.labelers import PROVIDERS, LabelerConfig
from labelgate.llm.preflight import estimate_run_cost
from labelgate.llm.prompts import REASONING_LINE, PromptTemplateError, default_template, shown_orders
from labelgate.llm.runner import RunOptions, RunPlan, call_groups, plan_items, run_sync
from labelgate.store import Database
from labelgate.store import llm as llm_store
from labelgate.store.labelers import save_labeler
from labelgate.tasks import Task

DEV_BATCH = "align-dev"
FIELDS = {"name": str, "provider": str, "model": str, "base_url": str, "api_key_env": str, "prompt": str,
          "temperature": (int, float), "samples": int, "reasoning": bool, "few_shot": int, "seed": int,
          "max_tokens": int, "both_orders": bool}
REQUIRED = ("name", "provider", "model")
RUNNABLE = tuple(p for p in PROVIDERS if p != "import")


class VariantError(ValueError):
    """A variants file that cannot be used: names the variant (index from 1) and the field."""


@dataclass(frozen=True)
class Variant:
    index: int                      # 1-based position in the file
    name: str
    provider: str
    model: str
    base_url: str | None = None
    api_key_env: str | None = None
    prompt: str = ""
    temperature: float = 0.0
    samples: int = 1
    reasoning: bool = False
    few_shot: int = 0
    seed: int = 0
    max_tokens: int = 256
    both_orders: bool = False


@dataclass
class BuiltVariant:
    variant: Variant
    config: LabelerConfig
    example_ids: list[str]
    plan: RunPlan
    uncached_calls: int = 0
    estimate_usd: float = 0.0
    priced: bool = True
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"index": self.variant.index, "name": self.config.name, "version": self.config.version,
                "provider": self.config.provider, "model": self.config.model, "few_shot": self.variant.few_shot,
                "seed": self.variant.seed, "reasoning": self.variant.reasoning,
                "temperature": self.config.temperature, "samples": self.config.n_samples,
                "example_ids": self.example_ids, "n_dev_items": len(self.plan.units),
                "uncached_calls": self.uncached_calls, "estimate_usd": round(self.estimate_usd, 6), **self.extra}


def variant_entry(config: LabelerConfig, prompt: str) -> dict:
    """A labeler config as an entry of a variants file (the inverse of build_variants for a zero-shot
    variant): the fields it sets, none left at None."""
    entry = {"name": config.name, "provider": config.provider, "model": config.model, "base_url": config.base_url,
             "api_key_env": config.api_key_env, "prompt": prompt, "temperature": config.temperature,
             "samples": config.n_samples, "max_tokens": config.max_tokens, "both_orders": config.both_orders}
    return {k: v for k, v in entry.items() if v is not None}


def _where(i: int, entry) -> str:
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"variant {i}" + (f" ({name})" if isinstance(name, str) and name.strip() else "")


def parse_variants(text: str, *, source: str = "the variants file") -> list[Variant]:
    """The variants of a YAML or JSON text (a list, or {"variants": [...]}); VariantError if bad."""
    try:
        data = json.loads(text)
    except ValueError:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise VariantError(f"{source} is neither JSON nor YAML: {str(exc).splitlines()[0]}") from None
    if isinstance(data, dict) and "variants" in data:
        data = data["variants"]
    if not isinstance(data, list) or not data:
        raise VariantError(f"{source} must hold a non-empty list of variants (or variants: [...])")
    out: list[Variant] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(data, start=1):
        if not isinstance(entry, dict):
            raise VariantError(f"variant {i}: must be a mapping of fields (name, provider, model, ...), "
                               f"got {type(entry).__name__}")
        where = _where(i, entry)
        unknown = [k for k in entry if k not in FIELDS]
        if unknown:
            raise VariantError(f"{where}: unknown field {unknown[0]!r}; known fields: {', '.join(FIELDS)}")
        for k in REQUIRED:
            if k not in entry or entry[k] is None or (isinstance(entry[k], str) and not entry[k].strip()):
                raise VariantError(f"{where}: field {k!r} is required")
        values = {}
        for k, v in entry.items():
            want = FIELDS[k]
            if v is None:
                continue
            ok = isinstance(v, want) and not (want is int and isinstance(v, bool)) and \
                not (want == (int, float) and isinstance(v, bool))
            if not ok:
                kind = {str: "text", int: "a whole number", bool: "true or false"}.get(want, "a number")
                raise VariantError(f"{where}: field {k!r} must be {kind}, got {v!r}")
            values[k] = v
        name = values["name"].strip()
        if name in seen:
            raise VariantError(f"{where}: field 'name': {name!r} is also the name of variant {seen[name]}")
        seen[name] = i
        if values["provider"] not in RUNNABLE:
            raise VariantError(f"{where}: field 'provider' must be one of {', '.join(RUNNABLE)}, "
                               f"got {values['provider']!r}")
        t = float(values.get("temperature", 0.0))
        if not (math.isfinite(t) and 0 <= t <= 2):
            raise VariantError(f"{where}: field 'temperature' must lie in [0, 2], got {t:g}")
        for k, low in (("samples", 1), ("few_shot", 0), ("max_tokens", 1), ("seed", 0)):
            if k in values and values[k] < low:
                raise VariantError(f"{where}: field {k!r} must be at least {low}, got {values[k]}")
        values["name"] = name
        values["temperature"] = t
        out.append(Variant(index=i, **values))
    return out


def read_variants(path: str | Path) -> list[Variant]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise VariantError(f"cannot read the variants file {p}: {exc.strerror or exc}") from None
    return parse_variants(text, source=f"the variants file {p.name}")


def _config(task: Task, v: Variant) -> LabelerConfig:
    template = v.prompt
    if v.reasoning:
        template = (template or default_template(task)) + "\n\n" + REASONING_LINE
    try:
        return LabelerConfig(name=v.name, provider=v.provider, model=v.model, base_url=v.base_url,
                             api_key_env=v.api_key_env, prompt_template=template, temperature=v.temperature,
                             n_samples=v.samples, max_tokens=v.max_tokens, both_orders=v.both_orders)
    except ValueError as exc:
        field_name = "base_url" if "base URL" in str(exc) else "api_key_env" if "API key" in str(exc) else "settings"
        raise VariantError(f"variant {v.index} ({v.name}): field {field_name!r}: {exc}") from None


def _uncached_units(db: Database, plan: RunPlan) -> list:
    """The plan's units with at least one call not answered in the cache (a whole unit counts)."""
    import pandas as pd

    if not plan.units:
        return []
    keys = pd.DataFrame({"content_hash": [u.content_hash for u in plan.units],
                         "cache_scope": [u.cache_scope for u in plan.units]})
    done: set[str] | None = None
    for gtask, names in call_groups(plan.task, plan.config):
        need = plan.config.n_samples * len(shown_orders(gtask, plan.config))
        for name in names:
            cached = llm_store.load_cache(db, plan.task.task_id, plan.config.version, gtask.spec_hash(), keys,
                                          criterion=name)
            counts = cached.groupby("content_hash").size()
            full = set(counts[counts >= need].index)
            done = full if done is None else done & full
    return [u for u in plan.units if u.content_hash not in (done or set())]


def build_variants(db: Database, task: Task, variants: list[Variant], *, gold_release: int | None = None
                   ) -> list[BuiltVariant]:
    """Every variant as a labeler config (few-shot examples from train only) planned on the dev split;
    nothing is saved or sent."""
    gold = resolve_gold(db, task, gold_release)
    split = split_for(db, task, gold)
    dev = split.ids("dev")
    if not dev:
        raise LookupError(f"the split of {task.name} on {split.gold_name} has no dev items")
    n_train = len(split.ids("train"))
    built: list[BuiltVariant] = []
    for v in variants:
        config = _config(task, v)
        if v.few_shot > n_train:
            raise VariantError(f"variant {v.index} ({v.name}): field 'few_shot' is {v.few_shot}, but the train "
                               f"split of {split.gold_name} has {n_train} items")
        example_ids: list[str] = []
        if v.few_shot:
            config, example_ids = few_shot_labeler(db, task, config, v.few_shot, seed=v.seed, name=v.name,
                                                   gold_release=gold_release)
        try:
            plan = plan_items(db, task, config, dev, batch=DEV_BATCH)
        except PromptTemplateError as exc:
            raise VariantError(f"variant {v.index} ({v.name}): field 'prompt': {exc}") from None
        built.append(BuiltVariant(v, config, example_ids, plan))
    for b in built:
        todo = _uncached_units(db, b.plan)
        if todo:
            b.uncached_calls = replace(b.plan, units=tuple(todo)).n_calls
            est = estimate_run_cost(replace(b.plan, units=tuple(todo)))
            b.estimate_usd, b.priced = est.likely_usd, est.priced
    return built


class OverBudget(ValueError):
    """The estimated cost of what is not yet cached exceeds the budget: nothing was sent or saved."""


def run_variants(db: Database, task: Task, variants: list[Variant], *, budget_usd: float | None = None,
                 options: RunOptions | None = None, created_by: str = "cli", gold_release: int | None = None,
                 progress=None) -> dict:
    """Save each variant as a labeler version and run it on the dev split (cached calls are free).

    Refuses (OverBudget) before any call or save when the estimate of the uncached calls exceeds
    `budget_usd`."""
    built = build_variants(db, task, variants, gold_release=gold_release)
    total = sum(b.estimate_usd for b in built)
    if budget_usd is not None:
        if not math.isfinite(budget_usd) or budget_usd < 0:
            raise ValueError(f"--budget-usd must be a non-negative amount, got {budget_usd:g}")
        if total > budget_usd:
            parts = ", ".join(f"{b.config.name} ${b.estimate_usd:,.4f} ({b.uncached_calls:,} calls)"
                              for b in built if b.uncached_calls)
            raise OverBudget(f"refused: the calls not yet cached are estimated at ${total:,.4f}, over the budget of "
                             f"${budget_usd:,.4f} ({parts}); nothing was sent or saved")
    from labelgate.llm.secrets import resolve_api_key

    for b in built:
        if b.uncached_calls:
            resolve_api_key(b.config)   # a missing key is named before anything is saved
    out = []
    for b in built:
        b.extra["saved_version"] = save_labeler(db, task.task_id, b.config, created_by=created_by)
        # always run: calls in the cache are not sent, but the labels are written under this name
        result = run_sync(db, b.plan, options or RunOptions(), started_by=created_by,
                          progress=(lambda p, name=b.config.name: progress(name, p)) if progress else None)
        b.extra.update(run_id=result.run_id, status=result.status, labeled=result.done, failed=result.failed,
                       requests=result.requests, cached_calls=result.cached_calls,
                       cost_usd=round(result.cost_usd, 6), message=result.message)
        out.append(b.to_dict())
    return {"task": task.name, "part": "dev", "batch": DEV_BATCH, "estimate_usd": round(total, 6),
            "budget_usd": budget_usd, "variants": out}
