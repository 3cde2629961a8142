"""The vectorized bootstrap of Krippendorff's alpha equals a loop of the reference library
(krippendorff.alpha) over the same resamples."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest

from qc.krippendorff import krippendorff_alpha_ci


def _reference(data: np.ndarray, level: str) -> float:
    """krippendorff.alpha, NaN where alpha is undefined (no variation among the paired values)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        try:
            a = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
        except (ValueError, ZeroDivisionError):
            return np.nan
    return float(a) if np.isfinite(a) else np.nan


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
@pytest.mark.parametrize("seed", range(6))
def test_each_resample_equals_the_reference_alpha_on_the_resampled_units(level, seed):
    rng = np.random.default_rng(seed)
    raters, units = rng.integers(2, 5), rng.integers(8, 40)
    truth = rng.integers(1, 6, units)
    data = np.clip(truth + rng.integers(-1, 2, (raters, units)), 1, 5).astype(float)
    data[:, 0] = [1] + [2] * (raters - 1)  # some variation for sure
    b = 50
    est = krippendorff_alpha_ci(data, level=level, n_resamples=b, seed=seed)
    idx = np.random.default_rng(seed).integers(0, units, size=(b, units))  # the same draws
    loop = [_reference(data[:, row], level) for row in idx]
    lo, hi = np.nanpercentile(loop, [2.5, 97.5])
    assert est.estimate == pytest.approx(_reference(data, level), abs=1e-9)
    assert (est.ci_low, est.ci_high) == (pytest.approx(lo, abs=1e-9), pytest.approx(hi, abs=1e-9))
    assert est.n == units


def test_units_with_a_single_value_are_not_resampled_and_bad_input_is_named():
    data = [[1, 2, np.nan, 3, 1, 2], [1, 2, 4, 3, 2, 2]]
    assert krippendorff_alpha_ci(data, n_resamples=20).n == 5
    with pytest.raises(ValueError, match="n_resamples must be at least 1"):
        krippendorff_alpha_ci(data, n_resamples=0)
    with pytest.raises(ValueError, match="2-D"):
        krippendorff_alpha_ci([1, 2, 3])
