"""Gate rules: does a labeler meet the bar to replace (part of) human labeling?

A gate is a list of :class:`Criterion` evaluated against a mapping of metric name to
:class:`~qc.estimate.Estimate` (or a bare float, or None when not computed).
:func:`evaluate_gate` returns a :class:`GateResult` with one reason per criterion. Everything is
a frozen dataclass that round-trips through JSON (``to_dict`` / ``from_dict``).

Rules of evaluation
-------------------
- A missing metric (absent, None or NaN) fails its criterion, unless the criterion is
  ``optional``: then it is skipped (``passed=None``) and does not affect the verdict.
- ``use`` picks the value compared: ``"estimate"``, ``"ci_low"`` or ``"ci_high"``. A bare float
  only has an estimate: a criterion on a CI bound then fails ("no confidence interval").
- ``min_n`` fails the criterion when the Estimate rests on fewer units (and when ``n`` is
  unknown, i.e. a bare float).
- The verdict is ``"pass"`` when every non-skipped criterion passes (and at least one was
  evaluated), else ``"fail"``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from qc.estimate import Estimate

__all__ = ["Criterion", "CriterionResult", "GateResult", "default_criteria", "evaluate_gate"]

_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
_NEG = {">=": "<", ">": "<=", "<=": ">", "<": ">="}
_USES = ("estimate", "ci_low", "ci_high")


def _nan_to_none(v):
    return None if isinstance(v, float) and math.isnan(v) else v


@dataclass(frozen=True)
class Criterion:
    """One rule: ``metrics[metric].<use> <comparator> threshold``.

    Attributes
    ----------
    metric : str
        Key in the metrics mapping, e.g. ``"kappa"``.
    comparator : {">=", ">", "<=", "<"}
    threshold : float
    use : {"estimate", "ci_low", "ci_high"}
        Which value of the Estimate is compared (a lower bound for "at least", an upper bound for
        "at most", to demand confidence rather than luck).
    min_n : int, optional
        Minimum ``n`` of the Estimate.
    optional : bool
        A missing metric is skipped instead of failing.
    label : str
        Short human name (defaults to ``metric``).
    description : str
        Why the rule exists.
    criterion : str, optional
        The task criterion the metric is measured on (a task asking several questions per item);
        None: the task's first (or only) one. The metric is then looked up as ``metric@criterion``
        (see :attr:`key`).

    Examples
    --------
    >>> c = Criterion("kappa", ">=", 0.6, use="ci_low")
    >>> Criterion.from_dict(c.to_dict()) == c
    True
    >>> Criterion("kappa", ">=", 0.6, criterion="factuality").key
    'kappa@factuality'
    """

    metric: str
    comparator: str
    threshold: float
    use: str = "estimate"
    min_n: int | None = None
    optional: bool = False
    label: str = ""
    description: str = ""
    criterion: str | None = None

    def __post_init__(self):
        if not isinstance(self.metric, str) or not self.metric:
            raise ValueError(f"metric must be a non-empty string, got {self.metric!r}")
        if self.comparator not in _OPS:
            raise ValueError(f"comparator must be one of {sorted(_OPS)}, got {self.comparator!r}")
        if self.use not in _USES:
            raise ValueError(f"use must be one of {_USES}, got {self.use!r}")
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float)):
            raise ValueError(f"threshold must be a number, got {self.threshold!r}")
        if math.isnan(self.threshold):
            raise ValueError("threshold must not be NaN")
        if self.min_n is not None and (
            isinstance(self.min_n, bool) or not isinstance(self.min_n, int) or self.min_n < 0
        ):
            raise ValueError(f"min_n must be a non-negative integer or None, got {self.min_n!r}")
        if self.criterion is not None and (not isinstance(self.criterion, str) or not self.criterion
                                           or "@" in self.criterion):
            raise ValueError(f"criterion must be None or a non-empty name without '@', got {self.criterion!r}")

    @property
    def name(self) -> str:
        """``label`` or, when empty, ``metric`` (with `` (criterion)`` when one is named)."""
        base = self.label or self.metric
        return f"{base} ({self.criterion})" if self.criterion else base

    @property
    def key(self) -> str:
        """Where the metric is looked up: ``metric``, or ``metric@criterion``."""
        return f"{self.metric}@{self.criterion}" if self.criterion else self.metric

    def to_dict(self) -> dict:
        """Plain JSON-able dict (``criterion`` only when one is named)."""
        d = asdict(self)
        if d["criterion"] is None:
            del d["criterion"]
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> Criterion:
        """Inverse of :meth:`to_dict`."""
        if not isinstance(d, Mapping) or "metric" not in d:
            raise ValueError("Criterion.from_dict expects a mapping with at least 'metric'")
        known = {"metric", "comparator", "threshold", "use", "min_n", "optional", "label", "description", "criterion"}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown Criterion fields: {sorted(unknown)}")
        return cls(**dict(d))


@dataclass(frozen=True)
class CriterionResult:
    """Outcome of one criterion.

    ``passed`` is True/False, or None when an optional metric was missing (skipped). ``observed``
    is the compared value (None when missing), ``n`` the Estimate's n (None if unknown).
    """

    criterion: Criterion
    passed: bool | None
    observed: float | None
    n: int | None
    reason: str

    def to_dict(self) -> dict:
        """Plain JSON-able dict."""
        return {
            "criterion": self.criterion.to_dict(),
            "passed": self.passed,
            "observed": _nan_to_none(self.observed),
            "n": self.n,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> CriterionResult:
        """Inverse of :meth:`to_dict`."""
        return cls(
            criterion=Criterion.from_dict(d["criterion"]),
            passed=d["passed"],
            observed=d["observed"],
            n=d["n"],
            reason=d["reason"],
        )


@dataclass(frozen=True)
class GateResult:
    """All criterion outcomes and the overall verdict (``"pass"`` or ``"fail"``)."""

    results: tuple
    verdict: str

    @property
    def passed(self) -> bool:
        """Whether the verdict is ``"pass"``."""
        return self.verdict == "pass"

    @property
    def failures(self) -> tuple:
        """The results that failed."""
        return tuple(r for r in self.results if r.passed is False)

    def to_dict(self) -> dict:
        """Plain JSON-able dict."""
        return {"verdict": self.verdict, "results": [r.to_dict() for r in self.results]}

    @classmethod
    def from_dict(cls, d: Mapping) -> GateResult:
        """Inverse of :meth:`to_dict`."""
        if not isinstance(d, Mapping) or d.get("verdict") not in ("pass", "fail"):
            raise ValueError("GateResult.from_dict expects a mapping with verdict 'pass' or 'fail'")
        return cls(results=tuple(CriterionResult.from_dict(r) for r in d.get("results", [])), verdict=d["verdict"])


def _fmt(v: float) -> str:
    if float(v).is_integer() and abs(v) >= 1:
        return str(int(v))
    return f"{v:.2f}" if abs(v) >= 0.01 or v == 0 else f"{v:.3g}"


def _evaluate_one(c: Criterion, value) -> CriterionResult:
    metric = f"{c.metric} ({c.criterion})" if c.criterion else c.metric
    what = metric if c.use == "estimate" else f"{metric} {c.use}"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        if c.optional:
            return CriterionResult(c, None, None, None, f"{metric}: missing metric (optional, skipped)")
        return CriterionResult(c, False, None, None, f"{metric}: missing metric")
    if isinstance(value, Estimate):
        n = int(value.n)
        observed = float(getattr(value, c.use))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        n = None
        if c.use != "estimate":
            return CriterionResult(c, False, float(value), None, f"{metric}: no confidence interval for {c.use}")
        observed = float(value)
    else:
        raise ValueError(f"metric {c.key!r} must be an Estimate, a number or None, got {type(value).__name__}")
    if c.min_n is not None:
        if n is None:
            return CriterionResult(c, False, observed, None, f"{metric}: n unknown < min {c.min_n}")
        if n < c.min_n:
            return CriterionResult(c, False, observed, n, f"{metric}: n={n} < min {c.min_n}")
    if math.isnan(observed):
        if c.optional:
            return CriterionResult(c, None, None, n, f"{what} is NaN (optional, skipped)")
        return CriterionResult(c, False, None, n, f"{what} is NaN")
    ok = compare(observed, c.comparator, c.threshold)
    cmp = c.comparator if ok else _NEG[c.comparator]
    reason = f"{what} {_fmt(observed)} {cmp} {_fmt(c.threshold)}"
    if not ok:
        reason += f" (required {c.comparator} {_fmt(c.threshold)})"
    return CriterionResult(c, ok, observed, n, reason)


def compare(value: float, comparator: str, threshold: float) -> bool:
    """``value <comparator> threshold``, with a value within 1e-12 (relative) of the threshold taken as
    equal to it: a rate computed as 7/20 or 0.1 + 0.2 sits *at* a bar of 0.35 or 0.3, not a hair off.
    The one comparison of a value with a bar, for the gate and the monitor alike.

    >>> compare(0.1 + 0.2, "<", 0.3), compare(0.1 + 0.2, "<=", 0.3), compare(0.29, "<", 0.3)
    (False, True, True)
    """
    if comparator not in _OPS:
        raise ValueError(f"comparator must be one of {sorted(_OPS)}, got {comparator!r}")
    if math.isclose(value, threshold, rel_tol=1e-12, abs_tol=1e-12):
        value = threshold
    return bool(_OPS[comparator](value, threshold))


def evaluate_gate(criteria: Sequence[Criterion], metrics: Mapping) -> GateResult:
    """Evaluate gate criteria against computed metrics.

    Parameters
    ----------
    criteria : sequence of Criterion
    metrics : mapping of str to Estimate, float or None
        Keyed by :attr:`Criterion.key` (``metric``, or ``metric@criterion`` for a criterion that
        names the task criterion it is about).

    Returns
    -------
    GateResult
        See the module docstring for the rules.

    Examples
    --------
    >>> from qc.estimate import Estimate
    >>> crit = [Criterion("kappa", ">=", 0.6, use="ci_low"), Criterion("ece", "<", 0.1, optional=True)]
    >>> g = evaluate_gate(crit, {"kappa": Estimate(0.7, 0.61, 0.79, n=300, method="bootstrap")})
    >>> g.verdict, [r.reason for r in g.results]
    ('pass', ['kappa ci_low 0.61 >= 0.60', 'ece: missing metric (optional, skipped)'])
    """
    if not isinstance(metrics, Mapping):
        raise ValueError("metrics must be a mapping of metric name to Estimate, number or None")
    crit = list(criteria)
    if not crit:
        raise ValueError("criteria is empty: a gate needs at least one criterion")
    for c in crit:
        if not isinstance(c, Criterion):
            raise ValueError(f"criteria must be Criterion objects, got {type(c).__name__}")
    results = tuple(_evaluate_one(c, metrics.get(c.key)) for c in crit)
    evaluated = [r for r in results if r.passed is not None]
    verdict = "pass" if evaluated and all(r.passed for r in evaluated) else "fail"
    return GateResult(results=results, verdict=verdict)


def default_criteria(kind: str) -> list[Criterion]:
    """Sensible default gate for a labeling task.

    Parameters
    ----------
    kind : {"categorical", "pairwise", "ordinal", "continuous"}

    Returns
    -------
    list of Criterion
        Metric names the app should provide:

        - ``n_gold`` >= 200 (gold items the labeler was scored on);
        - ``kappa`` (categorical, pairwise) or ``alpha`` (ordinal, continuous): lower 95% bound
          > 0.6, with ``min_n=200``;
        - ``expert_alpha`` >= 0.667 (Krippendorff's alpha among the human experts: the gold itself
          must be reliable);
        - optional ``ece`` < 0.1 (only when the labeler reports confidence);
        - optional ``anchor_flip_rate`` < 0.1 (drift against the previous run on anchor items);
        - optional ``cross_family_disagreement`` < 0.3 (disagreement with a judge of another family).

        The optional ones are skipped when the metric is missing (first run, no confidences, a
        single family) but fail when present and out of bounds.

    Examples
    --------
    >>> [c.metric for c in default_criteria("ordinal")][:3]
    ['n_gold', 'alpha', 'expert_alpha']
    """
    if kind in ("categorical", "pairwise"):
        agree = Criterion(
            "kappa",
            ">",
            0.6,
            use="ci_low",
            min_n=200,
            label="Cohen's kappa vs gold",
            description="lower 95% bound of kappa against expert gold",
        )
    elif kind in ("ordinal", "continuous"):
        agree = Criterion(
            "alpha",
            ">",
            0.6,
            use="ci_low",
            min_n=200,
            label="Krippendorff's alpha vs gold",
            description="lower 95% bound of alpha against expert gold",
        )
    else:
        raise ValueError(f"kind must be 'categorical', 'pairwise', 'ordinal' or 'continuous', got {kind!r}")
    return [
        Criterion("n_gold", ">=", 200, label="gold items", description="enough gold to judge the labeler"),
        agree,
        Criterion(
            "expert_alpha",
            ">=",
            0.667,
            label="expert agreement",
            description="the gold labels themselves are reliable (Krippendorff's tentative bound)",
        ),
        Criterion(
            "ece",
            "<",
            0.1,
            optional=True,
            label="calibration (ECE)",
            description="stated confidence matches accuracy",
        ),
        Criterion(
            "anchor_flip_rate",
            "<",
            0.1,
            optional=True,
            label="anchor drift",
            description="labels on anchor items stay stable between runs",
        ),
        Criterion(
            "cross_family_disagreement",
            "<",
            0.3,
            optional=True,
            label="cross-family disagreement",
            description="a judge of another model family mostly agrees",
        ),
    ]
