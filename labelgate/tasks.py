"""What a task is: its criteria (the questions asked of each item), their kinds and options, and how
a raw value becomes a valid label.

A task holds an ordered, non-empty tuple of :class:`Criterion`. A task made with the single-question
options (kind, labels, scale, range) has one criterion named ``label`` (:data:`DEFAULT_CRITERION`);
``Task.kind``, ``Task.spec``, ``Task.labels`` and the rest always describe the *first* criterion, so
code written for one question keeps working, and ``Task.criterion(name)`` gives the same view of any
other criterion (what metrics, calibration and the gate run on, per criterion).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

KINDS = ("categorical", "ordinal", "continuous", "pairwise")
PAIRWISE_ANSWERS = ("1", "2", "tie")


DEFAULT_CRITERION = "label"   # the one criterion of a task made with the single-question options
RATIONALE_MODES = ("off", "optional", "required")
# A criterion's name is a CSV column (wide imports), a JSON key (model answers) and a CLI word.
# a decimal number as people type it (normalize_value parses it with float(); anything else goes to pandas)
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,63}$")
# Column names of the long import form: a criterion may not be called like one of them.
RESERVED_NAMES = frozenset({"item_id", "rater", "labeler", "version", "batch", "criterion", "value", "rationale",
                            "confidence", "comment", "status", "round", "sample_index", "shown_order", "model",
                            "family"})


class TaskSpecError(ValueError):
    """A task definition (kind, labels, scale, range, criteria) is not usable."""


def make_spec(kind: str, *, labels=None, scale=None, anchors=None, value_range=None) -> dict:
    """Validate the options of a task kind and return its canonical spec dict.

    categorical: labels (>= 2 distinct); ordinal: scale (lo, hi) integers with optional text
    anchors per point; continuous: value_range (lo, hi); pairwise: labels among 1, 2, tie,
    containing 1 and 2.
    """
    if kind not in KINDS:
        raise TaskSpecError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    if kind == "categorical":
        labels = [str(x).strip() for x in (labels or []) if str(x).strip()]
        if len(labels) < 2 or len(set(labels)) != len(labels):
            raise TaskSpecError("a categorical task needs at least two distinct labels (--labels a,b,c)")
        return {"labels": labels}
    if kind == "pairwise":
        labels = [str(x).strip().lower() for x in (labels or ["1", "2", "tie"])]
        bad = [x for x in labels if x not in PAIRWISE_ANSWERS]
        if bad or "1" not in labels or "2" not in labels or len(set(labels)) != len(labels):
            raise TaskSpecError(
                "pairwise answers are 1 (first output better), 2 (second better) and optionally tie; "
                f"got {','.join(labels)}"
            )
        return {"labels": [x for x in PAIRWISE_ANSWERS if x in labels]}
    if kind == "ordinal":
        if scale is None or len(scale) != 2:
            raise TaskSpecError("an ordinal task needs a scale such as 1-5 (--scale 1-5)")
        lo, hi = scale
        if float(lo) != int(float(lo)) or float(hi) != int(float(hi)) or int(float(lo)) >= int(float(hi)):
            raise TaskSpecError(f"an ordinal scale needs whole numbers low < high; got {lo}-{hi}")
        lo, hi = int(float(lo)), int(float(hi))
        anchors = {str(int(float(k))): str(v) for k, v in (anchors or {}).items()}
        outside = [k for k in anchors if not lo <= int(k) <= hi]
        if outside:
            raise TaskSpecError(f"anchors {', '.join(outside)} lie outside the scale {lo}-{hi}")
        return {"scale": [lo, hi], "anchors": anchors}
    if value_range is None or len(value_range) != 2:
        raise TaskSpecError("a continuous task needs a range (--range LOW,HIGH)")
    lo, hi = (float(v) for v in value_range)
    if not np.isfinite([lo, hi]).all() or lo >= hi:
        raise TaskSpecError(f"a continuous range needs finite LOW < HIGH; got {lo},{hi}")
    return {"range": [lo, hi]}


def _options(kind: str, spec: dict) -> list[str]:
    if kind in ("categorical", "pairwise"):
        return list(spec["labels"])
    if kind == "ordinal":
        lo, hi = spec["scale"]
        return [str(v) for v in range(lo, hi + 1)]
    return []


@dataclass(frozen=True)
class Criterion:
    """One question asked of every item of a task.

    name : unique in the task (letters, digits, space, ``_ . -``; at most 64 characters).
    kind, spec : as :func:`make_spec` makes them.
    rubric : its own short rubric, shown beside the task's.
    required : an item cannot be submitted as labeled without an answer to it (when it is shown).
    rationale : ``off`` (no "why" asked), ``optional`` or ``required``.
    show_if : None, or ``{"criterion": NAME, "equals": VALUE}`` / ``{"criterion": NAME, "in": [VALUES]}``
        naming an *earlier* discrete criterion: this one is shown (and may be answered) only when that
        one's answer matches (values in canonical form; pairwise in the original numbering).
    rate : None, or the option of a categorical / pairwise / ordinal criterion whose share is tracked
        as a rate (e.g. ``"yes"`` of "factually accurate").
    """

    name: str
    kind: str
    spec: dict
    rubric: str = ""
    required: bool = True
    rationale: str = "off"
    show_if: dict | None = None
    rate: str | None = None

    @property
    def labels(self) -> list[str]:
        return _options(self.kind, self.spec)

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "spec": self.spec, "rubric": self.rubric,
                "required": self.required, "rationale": self.rationale, "show_if": self.show_if, "rate": self.rate}

    @classmethod
    def from_dict(cls, d: Mapping) -> Criterion:
        """A stored criterion (the shape of :meth:`to_dict`)."""
        return cls(str(d["name"]), str(d["kind"]), dict(d["spec"]), str(d.get("rubric") or ""),
                   bool(d.get("required", True)), str(d.get("rationale") or "off"),
                   dict(d["show_if"]) if d.get("show_if") else None,
                   None if d.get("rate") is None else str(d["rate"]))

    def shown(self, answers: Mapping[str, str | None]) -> bool:
        """Whether this criterion is shown, given the canonical answers to the earlier ones."""
        if not self.show_if:
            return True
        got = answers.get(self.show_if["criterion"])
        if got is None:
            return False
        wanted = self.show_if["in"] if "in" in self.show_if else [self.show_if["equals"]]
        return str(got) in wanted

    @property
    def is_default(self) -> bool:
        """The one criterion a single-question task had before criteria existed (its fingerprint is kept)."""
        return (self.name == DEFAULT_CRITERION and not self.rubric and self.required and self.rationale == "off"
                and self.show_if is None and self.rate is None)


def default_criterion(kind: str, spec: dict) -> Criterion:
    return Criterion(DEFAULT_CRITERION, kind, spec)


def make_criterion(entry: Mapping, *, index: int | None = None) -> Criterion:
    """One criterion from the fields a user writes (a --criteria file entry, the Data page form).

    Fields: name, kind, and as for the single-question options labels / scale / anchors / range (or a
    ready ``spec``), rubric, required (default true), rationale (off | optional | required), show_if,
    rate. Raises TaskSpecError naming the criterion and the field.
    """
    where = f"criterion {index + 1}" if index is not None else "criterion"
    if not isinstance(entry, Mapping):
        raise TaskSpecError(f"{where}: expected a mapping of fields (name, kind, ...); got {type(entry).__name__}")
    known = {"name", "kind", "labels", "scale", "anchors", "range", "spec", "rubric", "required", "rationale",
             "show_if", "rate"}
    unknown = sorted(set(entry) - known)
    name = entry.get("name")
    if isinstance(name, str) and name.strip():
        where = f"{where} ({name.strip()!r})"
    if unknown:
        raise TaskSpecError(f"{where}: unknown field {unknown[0]!r}; the fields are {', '.join(sorted(known))}")
    if not isinstance(name, str) or not _NAME.match(name.strip()) or name != name.strip():
        raise TaskSpecError(f"{where}: name must be 1-64 letters, digits, spaces or _ . - (starting with a letter "
                            f"or digit, no space at either end); got {name!r}")
    if name.lower() in RESERVED_NAMES:
        raise TaskSpecError(f"{where}: name {name!r} is reserved (a column of the label files); choose another")
    kind = entry.get("kind")
    if kind not in KINDS:
        raise TaskSpecError(f"{where}: kind must be one of {', '.join(KINDS)}; got {kind!r}")
    try:
        if "spec" in entry:
            spec = dict(entry["spec"])
            spec = make_spec(kind, labels=spec.get("labels"), scale=spec.get("scale"), anchors=spec.get("anchors"),
                             value_range=spec.get("range"))
        else:
            labels = entry.get("labels")
            if isinstance(labels, str):
                labels = [x for x in labels.split(",") if x.strip()]
            elif isinstance(labels, Sequence):
                labels = [_canon(x) for x in labels]   # YAML reads yes / no as booleans
            scale = entry.get("scale")
            if isinstance(scale, str):
                scale = tuple(p.strip() for p in scale.replace("..", "-").split("-"))
            value_range = entry.get("range")
            if isinstance(value_range, str):
                value_range = tuple(p.strip() for p in value_range.split(","))
            anchors = entry.get("anchors")
            if anchors is not None and not isinstance(anchors, Mapping):
                raise TaskSpecError("anchors must map scale points to text, e.g. {1: poor, 5: excellent}")
            spec = make_spec(kind, labels=labels, scale=scale, anchors=anchors, value_range=value_range)
    except (TaskSpecError, ValueError, TypeError) as exc:
        field_name = {"categorical": "labels", "pairwise": "labels", "ordinal": "scale", "continuous": "range"}[kind]
        msg = str(exc).split(" (--")[0]
        raise TaskSpecError(f"{where}: {field_name}: {msg}") from None
    rubric = entry.get("rubric") or ""
    if not isinstance(rubric, str):
        raise TaskSpecError(f"{where}: rubric must be text; got {type(rubric).__name__}")
    required = entry.get("required", True)
    if not isinstance(required, bool):
        raise TaskSpecError(f"{where}: required must be true or false; got {required!r}")
    rationale = entry.get("rationale", "off")
    if rationale is False or rationale is None:
        rationale = "off"
    if rationale not in RATIONALE_MODES:
        raise TaskSpecError(f"{where}: rationale must be one of {', '.join(RATIONALE_MODES)}; got {rationale!r}")
    show_if = entry.get("show_if")
    if show_if is not None:
        if not isinstance(show_if, Mapping) or "criterion" not in show_if or \
                (("equals" in show_if) == ("in" in show_if)) or set(show_if) - {"criterion", "equals", "in"}:
            raise TaskSpecError(f'{where}: show_if must be {{"criterion": NAME, "equals": VALUE}} or '
                                f'{{"criterion": NAME, "in": [VALUES]}}; got {show_if!r}')
        show_if = {"criterion": str(show_if["criterion"])} | (
            {"in": [_canon(v) for v in show_if["in"]]} if "in" in show_if else {"equals": _canon(show_if["equals"])})
        if "in" in show_if and not show_if["in"]:
            raise TaskSpecError(f"{where}: show_if: 'in' needs at least one value")
    rate = entry.get("rate")
    if rate is not None and rate is not False:
        if kind == "continuous":
            raise TaskSpecError(f"{where}: rate: a continuous criterion has no option to count as a rate")
        if rate is True:
            options = _options(kind, spec)
            rate = "yes" if "yes" in options else None
            if rate is None:
                raise TaskSpecError(f"{where}: rate: say which option is counted (rate: OPTION); options are "
                                    f"{', '.join(options)}")
        rate = _canon(rate)
        if rate not in _options(kind, spec):
            raise TaskSpecError(f"{where}: rate: {rate!r} is not an option; options are "
                                f"{', '.join(_options(kind, spec))}")
    else:
        rate = None
    return Criterion(name, kind, spec, rubric.strip(), required, rationale, show_if, rate)


def _canon(v) -> str:
    """A value written in a criteria file, as stored: 3 and 3.0 are the scale point '3'."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def check_criteria(criteria: Sequence[Criterion]) -> tuple[Criterion, ...]:
    """Refuse a list of criteria that cannot work together; returns it as a tuple.

    Names are unique (ignoring case); a show_if names an earlier criterion (so there is no cycle), one
    that is categorical, ordinal or pairwise, and values among its options.
    """
    criteria = tuple(criteria)
    if not criteria:
        raise TaskSpecError("a task needs at least one criterion")
    seen: dict[str, Criterion] = {}
    for i, c in enumerate(criteria):
        where = f"criterion {i + 1} ({c.name!r})"
        if not isinstance(c, Criterion):
            raise TaskSpecError(f"criterion {i + 1}: expected a Criterion; got {type(c).__name__}")
        same = [n for n in seen if n.lower() == c.name.lower()]
        if same:
            raise TaskSpecError(f"{where}: name: another criterion is already called {same[0]!r}")
        if c.show_if:
            ref = c.show_if["criterion"]
            if ref == c.name:
                raise TaskSpecError(f"{where}: show_if: a criterion cannot depend on itself")
            if ref not in seen:
                later = any(d.name == ref for d in criteria[i + 1:])
                raise TaskSpecError(
                    f"{where}: show_if: {ref!r} " + ("comes later; show_if must name an earlier criterion "
                                                     "(so that there is no cycle)" if later else
                                                     "is not a criterion of this task; earlier criteria: "
                                                     + (", ".join(seen) or "none")))
            trigger = seen[ref]
            if trigger.kind == "continuous":
                raise TaskSpecError(f"{where}: show_if: {ref!r} is continuous; a condition needs a criterion "
                                    "with options")
            values = c.show_if["in"] if "in" in c.show_if else [c.show_if["equals"]]
            bad = [v for v in values if v not in trigger.labels]
            if bad:
                raise TaskSpecError(f"{where}: show_if: {bad[0]!r} is not an option of {ref!r}; options are "
                                    f"{', '.join(trigger.labels)}")
        seen[c.name] = c
    return criteria


def parse_criteria(entries) -> tuple[Criterion, ...]:
    """Criteria from a --criteria file's list (see :func:`make_criterion`), checked together."""
    if not isinstance(entries, Sequence) or isinstance(entries, (str, bytes)) or not entries:
        raise TaskSpecError("criteria: expected a non-empty list of criteria (each with name, kind, ...)")
    return check_criteria([make_criterion(e, index=i) for i, e in enumerate(entries)])


@dataclass(frozen=True)
class Task:
    """The current revision of a task.

    ``kind`` and ``spec`` are those of the first criterion; ``criteria`` (filled with the default
    criterion ``label`` when not given) holds every question. ``view`` is the criterion's name in a
    view made by :meth:`criterion` (None for the task itself).
    """

    task_id: int
    name: str
    kind: str
    spec: dict
    rubric: str = ""
    text_columns: tuple[str, ...] = ()
    experts_per_item: int = 2
    revision: int = 1
    overlap_share: float = 0.2  # of the calibration set, labeled by every expert first
    criteria: tuple[Criterion, ...] = field(default=(), compare=True)
    view: str | None = None
    domain_column: str | None = None   # item metadata column holding the domain (None: no routing)
    others_may_label: bool = True      # experts without the domain's tag may label when none is free

    def __post_init__(self):
        if not self.criteria:
            object.__setattr__(self, "criteria", (default_criterion(self.kind, self.spec),))
        else:
            object.__setattr__(self, "criteria", tuple(self.criteria))
            first = self.criteria[0]
            if first.kind != self.kind or first.spec != self.spec:
                raise TaskSpecError(f"task {self.name}: kind and spec must be those of its first criterion "
                                    f"{first.name!r}")

    @property
    def criterion_name(self) -> str:
        """The criterion this task's kind, spec and label reads are about (the first, or the view's)."""
        return self.criteria[0].name

    @property
    def criterion_names(self) -> list[str]:
        return [c.name for c in self.criteria]

    @property
    def is_multi(self) -> bool:
        return len(self.criteria) > 1

    def criterion(self, name: str | None = None) -> Task:
        """The task as seen by one criterion: same task_id, name and revision, that criterion's kind,
        spec and options, the task's rubric followed by the criterion's own. Store reads given this
        view read that criterion's rows (they filter on ``criterion_name``)."""
        if name is None:
            name = self.criteria[0].name
        for c in self.criteria:
            if c.name == name:
                break
        else:
            raise KeyError(f"task {self.name} has no criterion {name!r}; its criteria: "
                           f"{', '.join(self.criterion_names)}")
        if self.view == name:
            return self
        rubric = "\n\n".join(p for p in (self.rubric.strip(), c.rubric) if p) if c.rubric else self.rubric
        return replace(self, kind=c.kind, spec=c.spec, rubric=rubric, criteria=(c,), view=name)

    def visible_criteria(self, answers: Mapping[str, str | None]) -> list[Criterion]:
        """The criteria shown for these canonical answers (a hidden trigger hides its dependants)."""
        shown: dict[str, str | None] = {}
        out = []
        for c in self.criteria:
            if c.shown(shown):
                out.append(c)
                shown[c.name] = answers.get(c.name)
        return out

    @property
    def labels(self) -> list[str]:
        """The discrete label values in order (ordinal: the scale points); [] for continuous."""
        return _options(self.kind, self.spec)

    @property
    def is_numeric(self) -> bool:
        return self.kind in ("ordinal", "continuous")

    def spec_hash(self) -> str:
        """Fingerprint of what a label means: kind, options and rubric, and every criterion (not display
        settings). A task whose only criterion is the default one hashes as before criteria existed,
        so its approvals and cached model calls stay valid."""
        payload = {"kind": self.kind, "spec": self.spec, "rubric": self.rubric}
        if not (len(self.criteria) == 1 and self.criteria[0].is_default):
            payload["criteria"] = [c.to_dict() for c in self.criteria]
        blob = json.dumps(payload, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def describe_values(self) -> str:
        if self.kind == "continuous":
            lo, hi = self.spec["range"]
            return f"a number from {lo:g} to {hi:g}"
        if self.kind == "ordinal":
            lo, hi = self.spec["scale"]
            return f"a whole number from {lo} to {hi}"
        return "one of " + ", ".join(self.labels)

    def normalize_values(self, values: pd.Series, *, allow_fractional: bool = False):
        """Canonical text and numeric form of raw values, and a mask of the invalid ones.

        Vectorized so that a million imported labels validate in well under a second.
        `allow_fractional` lets an ordinal task accept non-integer scores inside the scale
        (an LLM's mean over samples); people always answer a scale point.
        Returns (value, value_num, bad) as Series aligned with `values`.
        """
        raw = values.astype("string").str.strip()
        if self.kind in ("categorical", "pairwise"):
            text = raw.str.lower() if self.kind == "pairwise" else raw
            bad = ~text.isin(self.labels) | text.isna()
            return text.astype(object), pd.Series(np.nan, index=values.index), bad.fillna(True).astype(bool)
        num = pd.to_numeric(raw, errors="coerce").astype(float)
        if self.kind == "ordinal":
            lo, hi = self.spec["scale"]
        else:
            lo, hi = self.spec["range"]
        bad = num.isna() | ~np.isfinite(num) | (num < lo) | (num > hi)
        if self.kind == "ordinal" and not allow_fractional:
            bad |= num != np.round(num)
        if self.kind == "ordinal":
            text = num.map(lambda v: f"{v:g}" if np.isfinite(v) else None)
        else:
            text = num.map(lambda v: repr(float(v)) if np.isfinite(v) else None)
        return text.astype(object), num, bad.astype(bool)

    def normalize_value(self, value) -> tuple[str, float | None]:
        """One value (from a person at the keyboard): canonical text and numeric form.

        The rules of `normalize_values`, on one Python value without building a Series (~40 ms per
        item of six criteria under load on the Label page's Enter); anything but text or a plain
        number goes through `normalize_values` itself."""
        got = self._normalize_scalar(value)
        if got is None:
            text, num, bad = self.normalize_values(pd.Series([value]))
            got = (None, None) if bad.iloc[0] else (text.iloc[0], None if np.isnan(num.iloc[0]) else float(num.iloc[0]))
        if got[0] is None:
            raise ValueError(f"{value!r} is not a valid label for task {self.name}: expected {self.describe_values()}")
        return got

    def _normalize_scalar(self, value) -> tuple[str | None, float | None] | None:
        """`normalize_value` for text, int and float: (text, number), (None, None) when invalid, None when
        the value is of another type."""
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            return None
        raw = (value if isinstance(value, str) else str(value)).strip()
        if self.kind in ("categorical", "pairwise"):
            text = raw.lower() if self.kind == "pairwise" else raw
            return (text, None) if text in self.labels else (None, None)
        if not isinstance(value, str):
            num = float(value)
        elif not _PLAIN_NUMBER.fullmatch(raw):
            return None   # not a plain decimal number: pandas' parsing decides
        else:
            num = float(raw)
        lo, hi = self.spec["scale"] if self.kind == "ordinal" else self.spec["range"]
        if not np.isfinite(num) or num < lo or num > hi or (self.kind == "ordinal" and num != round(num)):
            return None, None
        return (f"{num:g}" if self.kind == "ordinal" else repr(num)), num
