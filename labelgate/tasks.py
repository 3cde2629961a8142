"""What a task is: its kind, its label options, and how a raw value becomes a valid label."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

KINDS = ("categorical", "ordinal", "continuous", "pairwise")
PAIRWISE_ANSWERS = ("1", "2", "tie")


class TaskSpecError(ValueError):
    """A task definition (kind, labels, scale, range) is not usable."""


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


@dataclass(frozen=True)
class Task:
    """The current revision of a task."""

    task_id: int
    name: str
    kind: str
    spec: dict
    rubric: str = ""
    text_columns: tuple[str, ...] = ()
    experts_per_item: int = 2
    revision: int = 1

    @property
    def labels(self) -> list[str]:
        """The discrete label values in order (ordinal: the scale points); [] for continuous."""
        if self.kind in ("categorical", "pairwise"):
            return list(self.spec["labels"])
        if self.kind == "ordinal":
            lo, hi = self.spec["scale"]
            return [str(v) for v in range(lo, hi + 1)]
        return []

    @property
    def is_numeric(self) -> bool:
        return self.kind in ("ordinal", "continuous")

    def spec_hash(self) -> str:
        """Fingerprint of what a label means: kind, options and rubric (not display settings)."""
        blob = json.dumps({"kind": self.kind, "spec": self.spec, "rubric": self.rubric}, sort_keys=True)
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
        """One value (from a person at the keyboard): canonical text and numeric form."""
        text, num, bad = self.normalize_values(pd.Series([value]))
        if bad.iloc[0]:
            raise ValueError(f"{value!r} is not a valid label for task {self.name}: expected {self.describe_values()}")
        v = num.iloc[0]
        return text.iloc[0], (None if np.isnan(v) else float(v))
