"""Proposals: a model rewrites a labeler's instructions from its errors on the TRAIN split.

    out = propose(db, task, "judge", proposer=LabelerConfig(name="proposer", provider="openai", model="gpt-4o"))
    out["variants"]        # each rewrite saved as a labeler version (same model and settings, new prompt)
    out["variants_file"]   # the same as a variants file for `labelgate align run --variants FILE` (dev)

What happens, in order (the idea of DSPy's MIPRO-style instruction proposals, without DSPy: the calls go
through labelgate's runner, cache, cost accounting and splits):

1. The base labeler runs on the train items of the split (labelgate.llm.runner, batch "align-train", its
   labels written under "<base> [align-train]" so that they never count as the base labeler's in the gate or
   the monitor; calls already cached are free, as the cache is keyed by version; the cost is on the run).
2. Its judgments are compared with the gold on train; the items it got wrong (at most `max_errors`, in
   item-id order) are shown to the proposer with the labeler's answer, the gold label and its rationale.
3. The proposer model is asked once (labelgate.llm.single) for `n` rewritten instruction texts (prompt
   templates with the same placeholders) as JSON.
4. Each usable rewrite becomes a labeler version named "<base> rewrite <version>"; the proposal is
   recorded (who, when, base version, the exact prompt sent, the answer, tokens and cost: align_proposals).

Only train items are read: the proposer never sees a dev or test item, so a rewrite cannot be fitted to
the items it is then compared on (dev) or judged on (test). Nothing here runs a rewrite on dev: that is
`align run`, like any other variant. An answer with no usable rewrite (empty, not JSON, no proposals,
templates that drop the item or use unknown placeholders) raises ProposalError and stores nothing.
"""

from __future__ import annotations

import json

from labelgate.align.splits import split_for
from labelgate.align.variants import variant_entry
from labelgate.analysis import judgments_vs_gold
from labelgate.gold import resolve_gold
from labelgate.labelers import LabelerConfig
from labelgate.llm.pricing import cost_or_none, cost_text
from labelgate.llm.prompts import (
    PAIRWISE_SPECIAL,
    PromptTemplateError,
    check_template,
    default_template,
    describe_options,
    has_pairwise,
    model_rubric,
    placeholders,
    render,
)
from labelgate.llm.runner import RunOptions, plan_items, run_sync
from labelgate.store import Database
from labelgate.store import align as store
from labelgate.store import gold as gold_store
from labelgate.store.items import get_items
from labelgate.store.labelers import get_labeler, save_labeler
from labelgate.tasks import Task

TRAIN_BATCH = "align-train"
MAX_ERRORS = 20
MAX_N = 10
SYSTEM = ("You improve the instructions given to an LLM that labels items for a human-defined task. You are shown "
          "its current instructions and items it labeled wrongly, with the correct label. Write rewritten "
          "instructions that would lead it to the correct labels on items like these, without quoting the items. "
          "Answer with JSON only.")
SCHEMA = {"type": "object", "additionalProperties": False, "required": ["proposals"],
          "properties": {"proposals": {"type": "array", "items": {
              "type": "object", "additionalProperties": False, "required": ["instructions", "rationale"],
              "properties": {"instructions": {"type": "string"}, "rationale": {"type": "string"}}}}}}


class ProposalError(ValueError):
    """The proposer's answer gave no usable rewrite (or there was nothing to learn from): nothing was stored."""


def train_name(labeler: str) -> str:
    """The name the base labeler's train labels are written under (not a labeler of the task)."""
    return f"{labeler} [{TRAIN_BATCH}]"


def _item_text(task: Task, fields: dict) -> str:
    return render("{item}", task, fields, shown_order="12" if has_pairwise(task) else None)


def train_errors(db: Database, task: Task, config: LabelerConfig, gold, train: list[str]):
    """(judgments beside gold on train, the wrong ones: item_id, gold, pred, rationale; one row per item)."""
    judgments = gold_store.llm_judgments(db, task.task_id, labelers=[(config.name, config.version)], item_ids=train,
                                         criterion=task.criterion_name)
    pairs = judgments_vs_gold(task, gold, judgments).frame
    if task.kind == "continuous":
        err = (pairs["pred_num"] - pairs["gold_num"]).abs()
        wrong = pairs.assign(err=err)[err > 0].sort_values(["err", "item_id"], ascending=[False, True])
    else:
        wrong = pairs[pairs["pred"].astype(str) != pairs["gold"].astype(str)].sort_values("item_id")
    wrong = wrong.drop_duplicates("item_id")
    why = judgments.drop_duplicates("item_id").set_index("item_id")["rationale"]
    wrong = wrong.assign(rationale=wrong["item_id"].map(why))
    return pairs, wrong[["item_id", "gold", "pred", "rationale"]].reset_index(drop=True)


def proposer_prompt(task: Task, template: str, errors, fields: dict, n: int, n_train: int, n_wrong: int) -> str:
    """The user message for the proposer: task, rubric, current instructions, the train errors, what to answer."""
    marks = ", ".join("{" + p + "}" for p in dict.fromkeys(placeholders(template))) or "none"
    parts = [f"Task: {task.name}", f"Rubric:\n{model_rubric(task) or '(none)'}",
             f"Allowed labels:\n{describe_options(task)}",
             "The labeler's current instructions (a template: each placeholder in braces is filled in for every item; "
             f"this one uses {marks}; {{item}} is the item's text, {{labels}} the allowed labels, {{options}} their "
             "descriptions, {rubric} the rubric; literal braces are written {{ and }}):",
             "<<<\n" + template + "\n>>>",
             f"On {n_train} training items it labeled, it got {n_wrong} wrong. "
             + (f"The first {len(errors)} of them:" if len(errors) < n_wrong else "They are:")]
    for k, row in enumerate(errors.itertuples(index=False), start=1):
        block = [f"Error {k}:", _item_text(task, fields[row.item_id]), f"The labeler answered: {row.pred}",
                 f"The correct label: {row.gold}"]
        if isinstance(row.rationale, str) and row.rationale.strip():
            block.append(f"The labeler's reasoning: {row.rationale.strip()}")
        parts.append("\n".join(block))
    parts.append(f"Write {n} different rewritten versions of the instructions. Each must be a complete template that "
                 "still shows the item (keep {item}, or the item's own placeholders) and keeps the other placeholders "
                 "it needs; do not copy these items into it. Answer with JSON: "
                 '{"proposals": [{"instructions": "<the rewritten template>", "rationale": "<what it changes and '
                 'why>"}]}')
    return "\n\n".join(parts)


def parse_proposals(text: str | None) -> list[tuple[str, str]]:
    """(instructions, rationale) pairs from the proposer's answer; ProposalError when there are none."""
    from labelgate.llm.parse import _json_objects

    if text is None or not text.strip():
        raise ProposalError("the proposer's answer was empty")
    found = None
    for obj in _json_objects(text):
        if isinstance(obj.get("proposals"), list):
            found = obj["proposals"]
            break
    if found is None:
        try:
            whole = json.loads(text)
        except ValueError:
            whole = None
        if isinstance(whole, list):
            found = whole
    if found is None:
        raise ProposalError(f"the proposer's answer is not JSON with a list of proposals: {text.strip()[:200]!r}")
    out = []
    for p in found:
        if isinstance(p, str):
            out.append((p, ""))
        elif isinstance(p, dict):
            body = next((p[k] for k in ("instructions", "prompt", "template", "text") if isinstance(p.get(k), str)), "")
            out.append((body, str(p.get("rationale") or "")))
        else:
            out.append(("", ""))
    if not out:
        raise ProposalError("the proposer's answer holds an empty list of proposals")
    return out


def _check(task: Task, text: str, base_template: str, item_fields: set[str]) -> str | None:
    """Why a rewrite cannot be used as a prompt template, or None."""
    if not text.strip():
        return "empty"
    if text.strip() == base_template.strip():
        return "the same as the current instructions"
    try:
        check_template(text, task, item_fields)
    except PromptTemplateError as exc:
        return str(exc)
    shows = {"item"} | item_fields | (set(PAIRWISE_SPECIAL) if has_pairwise(task) else set())
    if not set(placeholders(text)) & shows:
        return "it does not show the item (no {item} placeholder)"
    return None


def _variants_file(entries: list[dict]) -> str:
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper, value):   # multi-line prompts as readable literal blocks
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return yaml.dump(entries, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=1000)


def propose(db: Database, task: Task, labeler: str, *, proposer: LabelerConfig, n: int = 3,
            max_errors: int = MAX_ERRORS, gold_release: int | None = None, options: RunOptions | None = None,
            created_by: str = "cli", secrets=None) -> dict:
    """Run `labeler` on train, ask `proposer` for `n` rewrites of its instructions from the train errors, save
    each usable one as a labeler version and record the proposal. See the module docstring."""
    from labelgate.llm.secrets import resolve_api_key
    from labelgate.llm.single import AskFailed, ask

    if not 1 <= n <= MAX_N:
        raise ValueError(f"--n must be between 1 and {MAX_N}, got {n}")
    if max_errors < 1:
        raise ValueError(f"--max-errors must be at least 1, got {max_errors}")
    gold = resolve_gold(db, task, gold_release)
    split = split_for(db, task, gold)
    train = split.ids("train")
    if not train:
        raise LookupError(f"the split of {task.name} on {split.gold_name} has no train items")
    base = get_labeler(db, task.task_id, labeler)
    # under a name of its own: the calls are cached by version (shared with the base labeler's), but the train
    # labels never count as the base labeler's (its gate evaluation, its latest batch in the monitor)
    runner = base.with_changes(name=train_name(base.name))
    plan = plan_items(db, task, runner, train, batch=TRAIN_BATCH)   # refuses an import labeler
    resolve_api_key(proposer, secrets=secrets)                     # a missing key is named before any call
    run = run_sync(db, plan, options or RunOptions(), started_by=created_by, secrets=secrets)
    train_run = {"run_id": run.run_id, "status": run.status, "labeled": run.done, "failed": run.failed,
                 "requests": run.requests, "cached_calls": run.cached_calls,
                 "cost_usd": cost_or_none(run.cost_usd, base.model, base.provider)}
    spent = f"the train run cost {cost_text(train_run['cost_usd'], base.model)} ({run.requests} requests)"
    pairs, wrong = train_errors(db, task, runner, gold, train)
    if wrong.empty:
        raise ProposalError(f"{base.name} made no error on the {pairs['item_id'].nunique()} train items it labeled "
                            f"(of {len(train)}): nothing to learn from, the proposer was not asked and nothing was "
                            f"stored; {spent}")
    shown = wrong.head(max_errors)
    items = get_items(db, task.task_id, list(shown["item_id"])).set_index("item_id")["fields"]
    template = base.prompt_template or default_template(task)
    n_judged = int(pairs["item_id"].nunique())
    user = proposer_prompt(task, template, shown, items.to_dict(), n, n_judged, len(wrong))
    try:
        answer = ask(proposer, SYSTEM, user, schema=SCHEMA, options=options, secrets=secrets)
    except AskFailed as exc:
        raise ProposalError(f"the proposer {proposer.model} gave no answer: {exc}; nothing was stored; "
                            f"{spent}") from None
    proposer_cost = cost_or_none(answer.cost_usd, proposer.model, proposer.provider)
    paid = f"the proposer's answer cost {cost_text(proposer_cost, proposer.model)}, {spent}"
    if answer.refusal:
        raise ProposalError(f"the proposer {proposer.model} refused ({answer.refusal}); nothing was stored; {paid}")
    try:
        rewrites = parse_proposals(answer.text)
    except ProposalError as exc:
        raise ProposalError(f"{exc}; nothing was stored; {paid}") from None
    sample = get_items(db, task.task_id, train[:50])
    item_fields = set(task.text_columns)
    for f in sample["fields"]:
        item_fields |= set(f)
    usable, rejected, seen = [], [], set()
    for k, (text, why) in enumerate(rewrites, start=1):
        reason = _check(task, text, template, item_fields)
        if reason is None and text.strip() in seen:
            reason = "the same as an earlier proposal"
        if reason is not None:
            rejected.append({"index": k, "reason": reason})
            continue
        seen.add(text.strip())
        usable.append((text.strip(), why.strip()))
    if not usable:
        reasons = "; ".join(f"proposal {r['index']}: {r['reason']}" for r in rejected)
        raise ProposalError(f"no usable rewrite in the proposer's answer ({reasons}); nothing was stored; {paid}")
    usable = usable[:n]
    configs = []
    for text, why in usable:
        cfg = base.with_changes(prompt_template=text)
        configs.append((cfg.with_changes(name=f"{base.name} rewrite {cfg.version[:6]}"), text, why))
    variants = []
    for cfg, text, why in configs:
        version = save_labeler(db, task.task_id, cfg, created_by=created_by)
        variants.append({"name": cfg.name, "version": version, "instructions": text, "rationale": why})
    proposal_id = store.record_proposal(
        db, task_id=task.task_id, split_id=split.split_id, base_labeler=base.name, base_version=base.version,
        train_run_id=run.run_id, train_cost_usd=float(run.cost_usd), n_train_items=n_judged, n_errors=len(wrong),
        error_item_ids=list(shown["item_id"]), proposer_provider=proposer.provider, proposer_model=proposer.model,
        proposer_base_url=proposer.base_url, n_requested=n, prompt=f"[system]\n{SYSTEM}\n\n[user]\n{user}",
        response=answer.text or "", tokens_in=answer.tokens_in, tokens_out=answer.tokens_out,
        cost_usd=float(answer.cost_usd), variants=variants, created_by=created_by)
    entries = [variant_entry(cfg, text) for cfg, text, _ in configs]
    return {"task": task.name, "proposal_id": proposal_id, "split_id": split.split_id, "gold": split.gold_name,
            "part": "train", "base": {"name": base.name, "version": base.version, "model": base.model},
            "train_run": train_run, "n_train_items": n_judged, "n_errors": len(wrong), "n_errors_shown": len(shown),
            "proposer": {"provider": proposer.provider, "model": proposer.model, "tokens_in": answer.tokens_in,
                         "tokens_out": answer.tokens_out, "cost_usd": proposer_cost,
                         "attempts": answer.attempts},
            # a sum with an unpriced part is no total: None, not the priced part alone
            "cost_usd": None if None in (proposer_cost, train_run["cost_usd"])
            else round(proposer_cost + train_run["cost_usd"], 6), "requested": n, "variants": variants,
            "rejected": rejected, "variants_file": _variants_file(entries)}
