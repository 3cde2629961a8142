"""From a model's text to a label valid for the task, with its confidences.

The parser is tolerant, in this order: the whole text as JSON; JSON inside code fences or prose;
for pairwise tasks verdicts such as "Output (a)", "[[B]]", "Response 2 is better", "tie"; a bare
label ("positive", "4"); and finally exactly one distinct option named in the prose. The label
is validated with `Task.normalize_value` and, for a pairwise item shown in order "21", mapped
back to the original numbering.

Confidence comes in two kinds: verbalized (the "confidence" the model wrote; 0-1, or 0-100 read
as a percentage) and from token logprobs (the probability of the tokens spelling the label,
when the API returned logprobs).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

from labelgate.tasks import Task

LABEL_KEYS = ("label", "answer", "verdict", "choice", "winner", "rating", "score", "value", "category")
CONF_KEYS = ("confidence", "probability", "certainty", "confidence_score")

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_PAIR_PATTERNS = [
    re.compile(r"\[\[\s*(A|B|1|2|tie)\s*\]\]", re.I),
    re.compile(r"\b(?:output|response|answer|assistant|option|candidate)\s*[\(\[#]?\s*([AB12])\b\s*[\)\]]?", re.I),
]
_TIE = re.compile(r"\b(tie|equally good|equal quality|neither is better|both are equally)\b", re.I)
_PAIR_MAP = {"a": "1", "b": "2", "1": "1", "2": "2", "first": "1", "second": "2", "tie": "tie",
             "equal": "tie", "draw": "tie", "both": "tie", "neither": "tie", "output 1": "1", "output 2": "2"}


@dataclass(frozen=True)
class ParsedAnswer:
    """What one response says. `value` is None (and `error` set) when no valid label was found."""

    value: str | None
    value_num: float | None
    raw_label: str | None
    conf_verbalized: float | None
    conf_logprob: float | None
    error: str | None
    rationale: str | None = None

    @property
    def ok(self) -> bool:
        return self.value is not None

    @property
    def confidence(self) -> tuple[float | None, str | None]:
        """The confidence to store and its source: logprobs when present, else verbalized."""
        if self.conf_logprob is not None:
            return self.conf_logprob, "logprob"
        if self.conf_verbalized is not None:
            return self.conf_verbalized, "verbalized"
        return None, None


def _json_objects(text: str) -> list[dict]:
    """Every JSON object found in text: the whole, fenced blocks, then balanced {...} spans."""
    out: list[dict] = []

    def add(chunk: str) -> None:
        try:
            obj = json.loads(chunk)
        except (json.JSONDecodeError, ValueError):
            return
        if isinstance(obj, dict):
            out.append(obj)

    add(text.strip())
    for m in _FENCE.finditer(text):
        add(m.group(1).strip())
    depth, start, in_str, esc = 0, None, False, False
    for i, ch in enumerate(text):
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"' and depth > 0:
            in_str = True
        elif ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth > 0:
            depth -= 1
            if depth == 0 and start is not None:
                add(text[start:i + 1])
    return out


def _pick(obj: dict, keys) -> object:
    lower = {str(k).lower(): v for k, v in obj.items()}
    for k in keys:
        if k in lower and lower[k] is not None:
            return lower[k]
    return None


def verbalized_confidence(value) -> float | None:
    """A model's stated confidence as a probability (0-1; 1-100 read as percent), else None."""
    try:
        x = float(str(value).strip().rstrip("%"))
    except (TypeError, ValueError):
        return None
    if not math.isfinite(x) or x < 0:
        return None
    if x > 1:
        x = x / 100 if x <= 100 else None
    return x


def _free_text_label(text: str, task: Task) -> str | None:
    t = text.strip()
    bare = re.sub(r"^(?:label|answer|verdict|rating|score)\s*[:=]\s*", "", t, flags=re.I).strip(" \t\n\"'`.*")
    if task.kind == "pairwise":
        if bare.lower() in _PAIR_MAP:
            return bare
        found = set()
        for pat in _PAIR_PATTERNS:
            found |= {m.group(1).lower() for m in pat.finditer(t)}
        found = {_PAIR_MAP.get(f, f) for f in found}
        if _TIE.search(t):
            found.add("tie")
        return found.pop() if len(found) == 1 else None
    if task.kind in ("ordinal", "continuous"):
        if _NUMBER.fullmatch(bare):
            return bare
        m = re.search(r"(?:label|answer|score|rating|verdict)\s*(?:is|:|=)?\s*\**\s*(-?\d+(?:\.\d+)?)", t, re.I)
        if m:
            return m.group(1)
        nums = set(_NUMBER.findall(t))
        return nums.pop() if len(nums) == 1 else None
    options = {o.lower(): o for o in task.labels}
    if bare.lower() in options:
        return options[bare.lower()]
    hits = {o for lo, o in options.items() if re.search(r"(?<![\w-])" + re.escape(lo) + r"(?![\w-])", t, re.I)}
    return hits.pop() if len(hits) == 1 else None


_VALID: dict[tuple, tuple[str, float | None]] = {}   # (kind, spec, text) -> normalize_value's answer


def _normalize(task: Task, text: str) -> tuple[str, float | None]:
    """Task.normalize_value, memoized: it builds a pandas Series per call (~0.5 ms), and a run
    validates the same few label strings thousands of times."""
    key = (task.kind, repr(task.spec), text)
    hit = _VALID.get(key)
    if hit is None:
        hit = task.normalize_value(text)      # raises ValueError for an invalid label (not cached)
        if len(_VALID) > 10_000:
            _VALID.clear()
        _VALID[key] = hit
    return hit


def _canonical(raw, task: Task, shown_order: str | None) -> tuple[str, float | None]:
    """Validate a raw label; raises ValueError with the reason."""
    if isinstance(raw, bool) or isinstance(raw, (dict, list)):
        raise ValueError(f"label {raw!r} is not a value")
    text = f"{raw:g}" if isinstance(raw, float) and task.kind != "continuous" else str(raw).strip()
    if task.kind == "categorical":
        options = {o.lower(): o for o in task.labels}
        text = options.get(text.lower(), text)
    elif task.kind == "pairwise":
        key = text.lower().strip("()[] .")
        key = re.sub(r"^(output|response|answer)\s*", "", key)
        text = _PAIR_MAP.get(key, key)
        if shown_order == "21" and text in ("1", "2"):
            text = "2" if text == "1" else "1"
    return _normalize(task, text)


def label_span(text: str, raw_label: str) -> tuple[int, int] | None:
    """Character span of the label value in the text (after a "label" key when JSON)."""
    if not raw_label:
        return None
    m = re.search(r'"(?:' + "|".join(LABEL_KEYS) + r')"\s*:\s*"?', text, re.I)
    if m:
        i = text.find(raw_label, m.end())
        if i >= 0 and i - m.end() <= 2:
            return i, i + len(raw_label)
    i = text.find(raw_label)
    return (i, i + len(raw_label)) if i >= 0 else None


def logprob_confidence(tokens: list[tuple[str, float]] | None, text: str, raw_label: str | None) -> float | None:
    """exp(sum of the logprobs of the tokens that spell the label), or None if not locatable."""
    if not tokens or raw_label is None:
        return None
    joined = "".join(t for t, _ in tokens)
    if joined != text:
        return None
    span = label_span(text, str(raw_label))
    if span is None:
        return None
    start, end = span
    pos, total, hit = 0, 0.0, False
    for tok, lp in tokens:
        t_end = pos + len(tok)
        if t_end > start and pos < end:
            total += lp
            hit = True
        pos = t_end
    return float(min(1.0, math.exp(total))) if hit else None


def _rationale(obj) -> str | None:
    if not isinstance(obj, dict):
        return None
    why = _pick(obj, ("rationale", "reason", "explanation", "why"))
    return str(why).strip()[:4000] or None if why is not None and not isinstance(why, (dict, list)) else None


def parse_answers(text: str | None, task: Task, *, shown_order: str | None = None) -> dict[str, ParsedAnswer | None]:
    """Read every criterion's answer from one response to a call about several criteria.

    The response is a JSON object with a member per criterion (see prompts.label_schema), each an
    object with label / confidence / rationale or a bare label. Each criterion is validated on its own:
    one invalid answer leaves the others valid. A conditional criterion (show_if) or an optional one
    answered null or left out maps to None (no answer, not an error); any other criterion without a
    valid answer gets a ParsedAnswer with its error.
    """
    out: dict[str, ParsedAnswer | None] = {}
    if text is None or not str(text).strip():
        return {c.name: ParsedAnswer(None, None, None, None, None, "empty response") for c in task.criteria}
    text = str(text)
    names = {c.name.lower(): c.name for c in task.criteria}
    obj = None
    for cand in _json_objects(text):
        if any(str(k).lower() in names for k in cand):
            obj = {names.get(str(k).lower(), k): v for k, v in cand.items()}
            break
    for c in task.criteria:
        view = task.criterion(c.name)
        if obj is None:
            out[c.name] = ParsedAnswer(None, None, None, None, None,
                                       "no JSON object with a member per criterion in the response")
            continue
        member = obj.get(c.name)
        raw = _pick(member, LABEL_KEYS) if isinstance(member, dict) else member
        if raw is None:
            out[c.name] = None if (c.show_if or not c.required) else ParsedAnswer(
                None, None, None, None, None, f"no answer for {c.name} (expected {view.describe_values()})")
            continue
        conf = verbalized_confidence(_pick(member, CONF_KEYS)) if isinstance(member, dict) else None
        why = _rationale(member)
        raw_text = f"{raw:g}" if isinstance(raw, float) and view.kind != "continuous" else str(raw)
        try:
            value, num = _canonical(raw, view, shown_order)
        except ValueError:
            out[c.name] = ParsedAnswer(None, None, raw_text, conf, None,
                                       f"{c.name}: label {raw_text[:80]!r} is not valid: expected "
                                       f"{view.describe_values()}", why)
            continue
        out[c.name] = ParsedAnswer(value, num, raw_text, conf, None, None, why)
    return out


def parse_answer(text: str | None, task: Task, *, shown_order: str | None = None,
                 logprobs: list[tuple[str, float]] | None = None) -> ParsedAnswer:
    """Read a label and confidences from one model response."""
    if text is None or not str(text).strip():
        return ParsedAnswer(None, None, None, None, None, "empty response")
    text = str(text)
    raw, conf, why = None, None, None
    for obj in _json_objects(text):
        raw = _pick(obj, LABEL_KEYS)
        if raw is not None:
            conf = verbalized_confidence(_pick(obj, CONF_KEYS))
            why = _rationale(obj)
            break
    if raw is None:
        raw = _free_text_label(text, task)
        if raw is None:
            return ParsedAnswer(None, None, None, None, None,
                                f"no label found in the response (expected {task.describe_values()})")
        m = re.search(r"confidence\D{0,12}(\d+(?:\.\d+)?\s*%?)", text, re.I)
        conf = verbalized_confidence(m.group(1)) if m else None
    raw_text = f"{raw:g}" if isinstance(raw, float) and task.kind != "continuous" else str(raw)
    try:
        value, num = _canonical(raw, task, shown_order)
    except ValueError:
        return ParsedAnswer(None, None, raw_text, conf, None,
                            f"label {raw_text[:80]!r} is not valid: expected {task.describe_values()}", why)
    return ParsedAnswer(value, num, raw_text, conf, logprob_confidence(logprobs, text, raw_text), None, why)
