"""The value type every estimate with uncertainty returns."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a confidence interval.

    Attributes
    ----------
    estimate : float
        The point estimate on the full sample.
    ci_low, ci_high : float
        Bounds of the confidence interval (NaN when it cannot be computed, e.g. n < 2).
    n : int
        Number of units (items, or groups for a cluster bootstrap) the estimate rests on.
    method : str
        How the interval was made, e.g. ``"percentile bootstrap (B=1000)"`` or ``"wilson"``.
    level : float
        Nominal coverage of the interval.

    Examples
    --------
    >>> e = Estimate(0.8, 0.7, 0.9, n=100, method="wilson")
    >>> e.to_dict()["estimate"]
    0.8
    >>> e.contains(0.75)
    True
    """

    estimate: float
    ci_low: float
    ci_high: float
    n: int
    method: str
    level: float = 0.95

    def to_dict(self) -> dict:
        """Plain-dict form for JSON (NaN becomes None)."""
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies inside the closed interval."""
        return self.ci_low <= value <= self.ci_high


@dataclass(frozen=True)
class GroupedEstimate(Estimate):
    """An estimate averaged over groups: ``n`` groups gave a value, ``n_skipped`` could not.

    Examples
    --------
    >>> GroupedEstimate(0.4, 0.2, 0.6, n=8, method="per-group mean", n_skipped=2).to_dict()["n_skipped"]
    2
    """

    n_skipped: int = 0
