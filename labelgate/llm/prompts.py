"""Prompts: a labeler's template rendered for one item, and the answer schema of a task.

A template is plain text with placeholders in braces:

- ``{<field>}`` any field of the item (``{text}``, ``{question}``, ``{output_1}`` ...),
- ``{item}`` the task's text fields as "name: value" blocks,
- ``{rubric}`` the task's rubric (without lines telling people which keys to press), ``{task}`` its name,
- ``{labels}`` the allowed answers, comma-separated, ``{options}`` the same described one per
  line (ordinal anchors included),
- pairwise only: ``{first}`` / ``{second}`` the two outputs in the order shown.

A task of several criteria (issue 11) is asked in one call per item unless the labeler says
``per_criterion``: ``{options}`` then describes every criterion (its own rubric, options and whether
a rationale is wanted) and the answer is one JSON object with a member per criterion
(`label_schema`). With ``per_criterion`` (or for a one-question task) each call is about one
criterion, through the task's view of it (``Task.criterion(name)``).

Only ``{identifier}`` is a placeholder: other braces (a JSON example) pass through unchanged, and
``{{`` / ``}}`` give literal braces. An unknown placeholder is an error naming it and the known
ones. For a pairwise task rendered with shown order "21" the two outputs swap places, so
``{output_1}`` holds the original second output; answers are mapped back by the parser.
"""

from __future__ import annotations

import re
from dataclasses import replace

from labelgate.labelers import LabelerConfig
from labelgate.tasks import Task

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PAIR_NAMES = [("output_1", "output_2"), ("output1", "output2"), ("response_1", "response_2"),
               ("response1", "response2"), ("output_a", "output_b"), ("response_a", "response_b"),
               ("answer_1", "answer_2"), ("answer_a", "answer_b"), ("a", "b"), ("left", "right")]
SPECIAL = ("item", "rubric", "task", "labels", "options")
PAIRWISE_SPECIAL = ("first", "second")

SYSTEM_PROMPT = (
    "You are a careful expert annotator. Follow the rubric exactly. Reply with a JSON object and "
    'nothing else: {{"label": <{values}>, "confidence": <a number from 0 to 1: how likely your label '
    'is correct>}}.'
)


class PromptTemplateError(ValueError):
    """A template uses a placeholder that the task's items do not provide."""


def placeholders(template: str) -> list[str]:
    """The placeholder names a template uses, in order of first use."""
    seen: list[str] = []
    for m in _PLACEHOLDER.finditer(template):
        if m.group(1) and m.group(1) not in seen:
            seen.append(m.group(1))
    return seen


def shown_fields(task: Task, fields: dict) -> list[str]:
    """The item fields a prompt shows: the task's text columns, else every field."""
    cols = [c for c in task.text_columns if c in fields] if task.text_columns else []
    return cols or list(fields)


def pairwise_pair(task: Task, fields: dict) -> tuple[str, str]:
    """Names of the two compared outputs of a pairwise item."""
    for a, b in _PAIR_NAMES:
        if a in fields and b in fields:
            return a, b
    cols = shown_fields(task, fields)
    if len(cols) >= 2:
        return cols[-2], cols[-1]
    raise PromptTemplateError(
        "a pairwise item needs two outputs (fields output_1 and output_2, or two text columns); "
        f"this item has {', '.join(fields) or 'no fields'}")


def has_pairwise(task: Task) -> bool:
    """Whether an item of the task is a pair of outputs (a criterion compares them)."""
    return any(c.kind == "pairwise" for c in task.criteria)


def is_joint(task: Task) -> bool:
    """Whether one call answers several criteria (a task of several criteria, not a view of one)."""
    return len(task.criteria) > 1


def shown_orders(task: Task, config: LabelerConfig) -> list[str | None]:
    """The presentation orders to ask for: both for a pairwise labeler with both_orders."""
    if not has_pairwise(task):
        return [None]
    return ["12", "21"] if config.both_orders else ["12"]


def describe_options(task: Task) -> str:
    if is_joint(task):
        blocks = []
        for c in task.criteria:
            view = task.criterion(c.name)
            lines = [f"{c.name} ({c.kind}{'' if c.required else ', optional'}):"]
            if c.rubric:
                lines.append(c.rubric)
            if c.show_if:
                values = c.show_if.get("in") or [c.show_if.get("equals")]
                lines.append(f"Answer only when {c.show_if['criterion']} is {' or '.join(values)}; otherwise null.")
            lines.append(describe_options(replace(view, rubric="")))
            if c.rationale != "off":
                lines.append(f"Give a short rationale ({c.rationale}).")
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks)
    if task.kind == "pairwise":
        text = {"1": "1 = the first output is better", "2": "2 = the second output is better",
                "tie": "tie = neither is better"}
        return "\n".join(text[x] for x in task.labels)
    if task.kind == "ordinal":
        anchors = task.spec.get("anchors") or {}
        return "\n".join(f"{v} = {anchors[v]}" if v in anchors else v for v in task.labels)
    if task.kind == "continuous":
        return task.describe_values()
    return "\n".join(f"- {x}" for x in task.labels)


def _values(task: Task) -> str:
    if is_joint(task):
        return "; ".join(f"{c.name}: {_values(task.criterion(c.name))}" for c in task.criteria)
    if task.kind == "continuous":
        return task.describe_values()
    return ", ".join(task.labels)


def default_template(task: Task) -> str:
    """The template used when a labeler has none."""
    if is_joint(task):
        return "Task: {task}\n\nRubric:\n{rubric}\n\n{item}\n\nCriteria:\n{options}"
    if task.kind == "pairwise":
        return ("Task: {task}\n\nRubric:\n{rubric}\n\n{item}\n\nWhich output is better?\n{options}\n\n"
                "Answer with one of: {labels}.")
    return "Task: {task}\n\nRubric:\n{rubric}\n\nItem:\n{item}\n\nAllowed labels:\n{options}"


def _values_map(task: Task, fields: dict, shown_order: str | None) -> dict[str, str]:
    fields = {k: "" if v is None else str(v) for k, v in fields.items()}
    pairwise = has_pairwise(task)
    if pairwise:
        a, b = pairwise_pair(task, fields)
        if shown_order == "21":
            fields[a], fields[b] = fields[b], fields[a]
    values = {k: v for k, v in fields.items() if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k)}
    cols = shown_fields(task, fields)
    if pairwise:
        a, b = pairwise_pair(task, fields)
        values["first"], values["second"] = fields[a], fields[b]
        blocks = [f"{c}:\n{fields[c]}" for c in cols if c not in (a, b)]
        blocks += [f"Output 1:\n{fields[a]}", f"Output 2:\n{fields[b]}"]
    else:
        blocks = [f"{c}:\n{fields[c]}" for c in cols]
    values.update(item="\n\n".join(blocks), rubric=model_rubric(task) or "(none)", task=task.name,
                  labels=_values(task), options=describe_options(task))
    return values


_KEY_LINE = re.compile(r"^\W*(keys?|shortcuts?|keyboard)\W*:", re.IGNORECASE)


def model_rubric(task: Task) -> str:
    """The rubric as a model reads it: without the lines that tell people which keys to press
    ("Keys: 1 first output shown, ... S skip, F flag"), which mean nothing to a model."""
    lines = [ln for ln in (task.rubric or "").splitlines() if not _KEY_LINE.match(ln)]
    return "\n".join(lines).strip()


def check_template(template: str, task: Task, field_names) -> None:
    """Raise PromptTemplateError if `template` uses a placeholder items of the task lack."""
    known = set(SPECIAL) | set(field_names)
    if has_pairwise(task):
        known |= set(PAIRWISE_SPECIAL)
    unknown = [p for p in placeholders(template) if p not in known]
    if unknown:
        raise PromptTemplateError(
            f"unknown placeholder {{{unknown[0]}}} in the prompt template"
            + (f" (also {', '.join('{' + u + '}' for u in unknown[1:])})" if unknown[1:] else "")
            + f"; available: {', '.join('{' + k + '}' for k in sorted(known))}."
            " Write {{ and }} for literal braces.")


def render(template: str, task: Task, fields: dict, *, shown_order: str | None = None) -> str:
    """The user message for one item (and, for pairwise, one presentation order)."""
    template = template or default_template(task)
    values = _values_map(task, fields, shown_order)
    missing = [p for p in placeholders(template) if p not in values]
    if missing:
        check_template(template, task, fields)

    def sub(m: re.Match) -> str:
        tok = m.group(0)
        if tok == "{{":
            return "{"
        if tok == "}}":
            return "}"
        return values[m.group(1)]

    return _PLACEHOLDER.sub(sub, template)


def examples_block(task: Task, examples: list[tuple[dict, str]]) -> str:
    """Labeled examples (item fields, gold label) as text, for the head of a few-shot template.

    Each example shows the item as ``{item}`` does (pairwise: in the order 12) and its label. The
    braces of item text are doubled, so the block can be put into a template and rendered as is.
    """
    parts = ["Examples labeled by experts (for reference; label the item after them):"]
    for n, (fields, label) in enumerate(examples, start=1):
        item = _values_map(task, fields, "12" if has_pairwise(task) else None)["item"]
        parts.append(f"Example {n}:\n{item}\n\nLabel: {label}")
    return "\n\n".join(parts).replace("{", "{{").replace("}", "}}")


JOINT_SYSTEM_PROMPT = (
    "You are a careful expert annotator. Follow the rubric exactly. Answer every criterion. Reply with one "
    "JSON object and nothing else, with a member per criterion: {{{members}}}, each an object "
    '{{"label": <its answer>, "confidence": <a number from 0 to 1: how likely your label is correct>{why}}}; a '
    "criterion asked only under a condition that does not hold is null."
)
RATIONALE_SYSTEM = ' Add "rationale": <one or two sentences: why>.'
# the alignment lab's `reasoning: true`: a template holding this line asks for the reasoning first
REASONING_LINE = ("Before you answer, reason step by step about how the rubric applies to this item; "
                  "then give the label.")
REASONING_SYSTEM = (
    "You are a careful expert annotator. Follow the rubric exactly. Reply with a JSON object and nothing else, "
    'its members in this order: {{"rationale": <your reasoning about how the rubric applies, a few sentences>, '
    '"label": <{values}>, "confidence": <a number from 0 to 1: how likely your label is correct>}}.'
)


def asks_reasoning(task: Task, template: str | None) -> bool:
    """Whether a labeler's template asks to reason before the label (the lab's reasoning line), on a
    one-call-per-criterion task: its answer then carries a rationale, written before the label."""
    return bool(template) and REASONING_LINE in template and not is_joint(task)


def system_prompt(task: Task, *, reasoning: bool = False) -> str:
    if reasoning and not is_joint(task):
        return REASONING_SYSTEM.format(values=_values(task))
    if is_joint(task):
        why = ', "rationale": <why, one or two sentences>' if any(c.rationale != "off" for c in task.criteria) else ""
        return JOINT_SYSTEM_PROMPT.format(members=", ".join(f'"{c.name}"' for c in task.criteria), why=why)
    base = SYSTEM_PROMPT.format(values=_values(task))
    return base + RATIONALE_SYSTEM if task.criteria[0].rationale != "off" else base


def label_schema(task: Task, *, reasoning: bool = False) -> dict:
    """JSON schema of an answer: {"label": one of the task's options, "confidence": 0-1}.

    Written for OpenAI strict mode (every property required, no additional properties); ranges go
    in descriptions because strict mode does not enforce minimum/maximum everywhere. With
    `reasoning`, a "rationale" comes first (strict mode generates members in schema order).
    """
    if reasoning and not is_joint(task):
        out = label_schema(task)
        props = {"rationale": {"type": "string", "description": "your reasoning about how the rubric applies"}}
        props |= {k: v for k, v in out["properties"].items() if k != "rationale"}
        return {**out, "properties": props, "required": list(props)}
    if is_joint(task):
        props = {}
        for c in task.criteria:
            one = label_schema(task.criterion(c.name))
            props[c.name] = {"anyOf": [one, {"type": "null"}]} if c.show_if or not c.required else one
        return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}
    if task.kind == "continuous":
        label = {"type": "number", "description": task.describe_values()}
    else:
        label = {"type": "string", "enum": list(task.labels)}
    out = {
        "type": "object",
        "properties": {
            "label": label,
            "confidence": {"type": "number", "description": "probability from 0 to 1 that the label is correct"},
        },
        "required": ["label", "confidence"],
        "additionalProperties": False,
    }
    if task.criteria[0].rationale != "off":
        out["properties"]["rationale"] = {"type": "string", "description": "why, in one or two sentences"}
        out["required"].append("rationale")
    return out
