"""Prompts: a labeler's template rendered for one item, and the answer schema of a task.

A template is plain text with placeholders in braces:

- ``{<field>}`` any field of the item (``{text}``, ``{question}``, ``{output_1}`` ...),
- ``{item}`` the task's text fields as "name: value" blocks,
- ``{rubric}`` the task's rubric, ``{task}`` its name,
- ``{labels}`` the allowed answers, comma-separated, ``{options}`` the same described one per
  line (ordinal anchors included),
- pairwise only: ``{first}`` / ``{second}`` the two outputs in the order shown.

Only ``{identifier}`` is a placeholder: other braces (a JSON example) pass through unchanged, and
``{{`` / ``}}`` give literal braces. An unknown placeholder is an error naming it and the known
ones. For a pairwise task rendered with shown order "21" the two outputs swap places, so
``{output_1}`` holds the original second output; answers are mapped back by the parser.
"""

from __future__ import annotations

import re

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


def shown_orders(task: Task, config: LabelerConfig) -> list[str | None]:
    """The presentation orders to ask for: both for a pairwise labeler with both_orders."""
    if task.kind != "pairwise":
        return [None]
    return ["12", "21"] if config.both_orders else ["12"]


def describe_options(task: Task) -> str:
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
    if task.kind == "continuous":
        return task.describe_values()
    return ", ".join(task.labels)


def default_template(task: Task) -> str:
    """The template used when a labeler has none."""
    if task.kind == "pairwise":
        return ("Task: {task}\n\nRubric:\n{rubric}\n\n{item}\n\nWhich output is better?\n{options}\n\n"
                "Answer with one of: {labels}.")
    return "Task: {task}\n\nRubric:\n{rubric}\n\nItem:\n{item}\n\nAllowed labels:\n{options}"


def _values_map(task: Task, fields: dict, shown_order: str | None) -> dict[str, str]:
    fields = {k: "" if v is None else str(v) for k, v in fields.items()}
    if task.kind == "pairwise":
        a, b = pairwise_pair(task, fields)
        if shown_order == "21":
            fields[a], fields[b] = fields[b], fields[a]
    values = {k: v for k, v in fields.items() if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k)}
    cols = shown_fields(task, fields)
    if task.kind == "pairwise":
        a, b = pairwise_pair(task, fields)
        values["first"], values["second"] = fields[a], fields[b]
        blocks = [f"{c}:\n{fields[c]}" for c in cols if c not in (a, b)]
        blocks += [f"Output 1:\n{fields[a]}", f"Output 2:\n{fields[b]}"]
    else:
        blocks = [f"{c}:\n{fields[c]}" for c in cols]
    values.update(item="\n\n".join(blocks), rubric=task.rubric or "(none)", task=task.name,
                  labels=_values(task), options=describe_options(task))
    return values


def check_template(template: str, task: Task, field_names) -> None:
    """Raise PromptTemplateError if `template` uses a placeholder items of the task lack."""
    known = set(SPECIAL) | set(field_names)
    if task.kind == "pairwise":
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


def system_prompt(task: Task) -> str:
    return SYSTEM_PROMPT.format(values=_values(task))


def label_schema(task: Task) -> dict:
    """JSON schema of an answer: {"label": one of the task's options, "confidence": 0-1}.

    Written for OpenAI strict mode (every property required, no additional properties); ranges go
    in descriptions because strict mode does not enforce minimum/maximum everywhere.
    """
    if task.kind == "continuous":
        label = {"type": "number", "description": task.describe_values()}
    else:
        label = {"type": "string", "enum": list(task.labels)}
    return {
        "type": "object",
        "properties": {
            "label": label,
            "confidence": {"type": "number", "description": "probability from 0 to 1 that the label is correct"},
        },
        "required": ["label", "confidence"],
        "additionalProperties": False,
    }
