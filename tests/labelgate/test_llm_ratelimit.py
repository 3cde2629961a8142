"""The token buckets on a virtual clock: exact times, no waiting, nothing that a busy machine shifts."""

from __future__ import annotations

import asyncio
import types

import pytest

from labelgate.llm import ratelimit
from labelgate.llm.ratelimit import RateLimiter, TokenBucket


@pytest.fixture
def clock(monkeypatch):
    """ratelimit's view of time: monotonic() reads `now`; sleep(d) moves it on by d, and by at
    least a nanosecond, as any real sleep does (a bucket short by a rounding error sleeps for
    1e-18 s, which would not move a float clock). Only one task sleeps at a time in these tests
    (a bucket sleeps under its lock), so the sum is right."""
    state = types.SimpleNamespace(now=0.0)

    async def sleep(seconds):
        state.now += max(1e-9, seconds)
        await asyncio.sleep(0)

    monkeypatch.setattr(ratelimit, "time", types.SimpleNamespace(monotonic=lambda: state.now))
    monkeypatch.setattr(ratelimit, "asyncio", types.SimpleNamespace(Lock=asyncio.Lock, sleep=sleep))
    return state


def _acquire_all(limiter, n_tasks: int, clock, est_tokens: int = 0) -> list[float]:
    async def one():
        await limiter.acquire(est_tokens)
        return clock.now

    async def main():
        return await asyncio.gather(*(one() for _ in range(n_tasks)))

    return sorted(asyncio.run(main()))


def test_requests_per_minute_space_concurrent_requests_evenly(clock):
    # 1200 a minute, a 0.05 s burst (one request): 24 concurrent workers go one every 0.05 s
    times = _acquire_all(RateLimiter(rpm=1200, burst_seconds=0.05), 24, clock)
    assert times == pytest.approx([0.05 * i for i in range(24)], abs=1e-6)


def test_the_burst_goes_at_once_then_the_refill_rate(clock):
    # 60 a minute with a 3 s burst: 3 at t=0, then one a second
    times = _acquire_all(RateLimiter(rpm=60, burst_seconds=3), 6, clock)
    assert times == pytest.approx([0, 0, 0, 1, 2, 3], abs=1e-6)


def test_tokens_per_minute_wait_for_the_tokens_a_request_needs(clock):
    # 6000 tokens a minute = 100 a second, burst 1 s = 100 tokens; 250-token requests are clamped
    # to the burst, so each waits for a full bucket
    times = _acquire_all(RateLimiter(tpm=6000, burst_seconds=1), 3, clock, est_tokens=250)
    assert times == pytest.approx([0, 1, 2], abs=1e-6)


def test_a_pause_holds_every_request_until_it_ends(clock):
    limiter = RateLimiter(rpm=600, burst_seconds=1)  # 10 a second: never the limit here
    assert _acquire_all(limiter, 1, clock) == [0.0]
    limiter.pause(2.5)  # a 429 with Retry-After: 2.5
    assert _acquire_all(limiter, 1, clock) == pytest.approx([2.5], abs=1e-6)
    limiter.pause(1.0)
    limiter.pause(0.2)  # a shorter pause does not cut a longer one
    assert _acquire_all(limiter, 1, clock) == pytest.approx([3.5], abs=1e-6)


def test_settle_gives_back_unused_tokens_and_charges_extra(clock):
    bucket = TokenBucket(6000, burst_seconds=1)  # 100 tokens, 100 a second
    limiter = RateLimiter(tpm=6000, burst_seconds=1)
    limiter.tokens = bucket
    _acquire_all(limiter, 1, clock, est_tokens=80)
    assert bucket.level == pytest.approx(20)
    limiter.settle(80, 30)  # used 30 of the 80 reserved
    assert bucket.level == pytest.approx(70)
    limiter.settle(10, 60)  # used 50 more than reserved
    assert bucket.level == pytest.approx(20)


def test_a_limit_must_be_positive():
    with pytest.raises(ValueError, match="a rate limit must be positive; got 0"):
        TokenBucket(0)
