"""qc.targeted: inclusion probabilities, the pi-ps draw, Horvitz-Thompson with Hajek's variance."""

import math

import numpy as np
import pytest
from scipy import stats

from qc.targeted import draw_pps, horvitz_thompson_mean, inclusion_probabilities, strategy_yield


def test_probabilities_sum_to_k_keep_the_floor_and_cap_at_one():
    rng = np.random.default_rng(0)
    scores = rng.exponential(size=500) ** 3
    scores[:3] = 1e6                               # three items the strategy is sure of
    pi = inclusion_probabilities(scores, 50, floor=0.1)
    assert pi.sum() == pytest.approx(50, abs=1e-9)
    assert (pi[:3] == 1.0).all() and pi.max() <= 1.0
    assert pi.min() >= 0.1 * 50 / 500 - 1e-12       # every item keeps a chance
    assert np.all(np.diff(pi[np.argsort(scores[3:]) + 3]) >= -1e-12)   # monotone in the score
    assert np.allclose(inclusion_probabilities(np.zeros(10), 4), 0.4)
    assert np.allclose(inclusion_probabilities(scores, 50, floor=1.0), 0.1)   # floor 1: simple random sample


def test_the_draw_has_exact_size_no_repeats_and_the_stated_inclusion_frequencies():
    pi = inclusion_probabilities(np.array([5.0, 1, 1, 0.2, 0.2, 3, 0, 0, 2, 1]), 4, floor=0.2)
    hits = np.zeros(pi.size)
    reps = 20000
    rng = np.random.default_rng(1)
    for _ in range(reps):
        idx = draw_pps(pi, seed=rng)
        assert idx.size == 4 and np.unique(idx).size == 4
        hits[idx] += 1
    # each item's frequency within 4.5 binomial standard errors of its probability
    se = np.sqrt(pi * (1 - pi) / reps) + 1e-12
    assert np.all(np.abs(hits / reps - pi) <= 4.5 * se + 1e-9), (hits / reps, pi)


def test_equal_probabilities_give_the_sample_mean_and_the_textbook_variance_with_fpc():
    y = np.array([3, 0, 1, 2, 2, 0, 5, 1, 1, 0, 4, 1], dtype=float)
    N = 120
    e = horvitz_thompson_mean(y, np.full(y.size, y.size / N), N)
    f = y.size / N
    se = math.sqrt((1 - f) * y.var(ddof=1) / y.size)           # SRS without replacement (closed form)
    z = stats.norm.ppf(0.975)
    assert e.estimate == pytest.approx(y.mean(), abs=1e-12)
    assert e.ci_low == pytest.approx(y.mean() - z * se, abs=1e-12)
    assert e.ci_high == pytest.approx(y.mean() + z * se, abs=1e-12)


def test_a_rate_gets_wilsons_interval_on_the_effective_sample_size():
    from statsmodels.stats.proportion import proportion_confint

    y = np.array([1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0], dtype=float)
    pi = np.array([0.9, 0.2, 0.1, 0.5, 0.3, 0.05, 0.6, 0.2, 0.8, 0.1, 0.1, 0.4, 0.3, 0.2, 0.25])
    N = 60
    e = horvitz_thompson_mean(y, pi, N)
    p_hat = float(np.sum(y / pi) / N)
    c, zi = 1 - pi, y / pi
    b = np.sum(c * zi) / np.sum(c)
    var = y.size / (y.size - 1) * np.sum(c * (zi - b) ** 2) / N**2   # Hajek's approximation, by hand
    n_eff = p_hat * (1 - p_hat) / var
    low, high = proportion_confint(p_hat * n_eff, n_eff, alpha=0.05, method="wilson")
    assert e.estimate == pytest.approx(p_hat, abs=1e-12)
    assert (e.ci_low, e.ci_high) == pytest.approx((low, high), abs=1e-9)


def _coverage(reps: int, seed: int) -> float:
    """Share of 95% intervals covering the pool's true error rate, errors concentrated where scores are high."""
    rng = np.random.default_rng(seed)
    N, k = 2000, 150
    x = rng.random(N)
    err = rng.random(N) < 0.02 + 0.3 * x ** 3          # errors concentrate in one band
    scores = x ** 2 + 0.05 * rng.random(N)             # a strategy that sees the band, imperfectly
    pi = inclusion_probabilities(scores, k, floor=0.1)
    truth = err.mean()
    covered = 0
    for _ in range(reps):
        idx = draw_pps(pi, seed=rng)
        e = horvitz_thompson_mean(err[idx], pi[idx], N)
        covered += e.ci_low <= truth <= e.ci_high
    return covered / reps


def test_the_weighted_error_rate_covers_the_pool_rate_reduced():
    assert 0.91 <= _coverage(400, seed=7) <= 0.98


@pytest.mark.slow
def test_the_weighted_error_rate_covers_the_pool_rate_93_to_97_percent():
    assert 0.93 <= _coverage(4000, seed=11) <= 0.97


def test_a_strategy_that_sees_the_errors_yields_more_than_the_random_control():
    rng = np.random.default_rng(2)
    n = 600
    domain = rng.random(n) < 0.2
    err = rng.random(n) < np.where(domain, 0.5, 0.05)
    seen = strategy_yield(err, domain * 1.0 + 0.01, 0.1, n_resamples=300)
    control = strategy_yield(err, np.ones(n), 0.1, n_resamples=300)
    assert control.estimate == pytest.approx(err.mean(), abs=1e-12)
    assert seen.ci_low > control.ci_high
    blind = strategy_yield(err, rng.random(n), 0.1, n_resamples=300)   # a score unrelated to the errors
    assert blind.ci_low <= err.mean() <= blind.ci_high


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="k must be an integer between 1 and the number of items"):
        inclusion_probabilities([1, 2], 3)
    with pytest.raises(ValueError, match="scores contain NaN"):
        inclusion_probabilities([1, float("nan")], 1)
    with pytest.raises(ValueError, match="must be >= 0"):
        inclusion_probabilities([1, -1], 1)
    with pytest.raises(ValueError, match="sum to a positive whole number"):
        draw_pps([0.5, 0.7], seed=0)
    with pytest.raises(ValueError, match="drawn with probability 0"):
        horvitz_thompson_mean([1, 0], [0.5, 0.0], 10)
