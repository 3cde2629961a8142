"""Request- and token-per-minute limits as token buckets, shared by all workers of a run.

A bucket holds up to `burst` units and refills at rate/60 per second; `acquire(n)` waits until n
units are there. The default burst (`burst_seconds`) is five seconds' worth, so a run starts smoothly instead of
spending a whole minute's quota in its first second. A request costlier than the burst is
clamped to it, so it can still go. `pause(seconds)` (after a 429 with Retry-After) holds every
worker, not only the one that was told to wait.
"""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    def __init__(self, per_minute: float, *, burst_seconds: float = 5.0):
        if per_minute <= 0:
            raise ValueError(f"a rate limit must be positive; got {per_minute}")
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_seconds)
        self.level = self.capacity
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now

    async def acquire(self, n: float = 1.0) -> None:
        n = min(float(n), self.capacity)
        async with self._lock:
            while True:
                self._refill()
                if self.level >= n:
                    self.level -= n
                    return
                await asyncio.sleep((n - self.level) / self.rate)

    def adjust(self, delta: float) -> None:
        """Correct an estimate afterwards (positive delta: more was used than reserved)."""
        self._refill()
        self.level = max(-self.capacity, min(self.capacity, self.level - delta))


class RateLimiter:
    """Optional RPM and TPM buckets plus a shared pause."""

    def __init__(self, *, rpm: float | None = None, tpm: float | None = None, burst_seconds: float = 5.0):
        self.requests = TokenBucket(rpm, burst_seconds=burst_seconds) if rpm else None
        self.tokens = TokenBucket(tpm, burst_seconds=burst_seconds) if tpm else None
        self._resume_at = 0.0

    def pause(self, seconds: float) -> None:
        self._resume_at = max(self._resume_at, time.monotonic() + max(0.0, seconds))

    async def acquire(self, est_tokens: int) -> None:
        while True:
            wait = self._resume_at - time.monotonic()
            if wait <= 0:
                break
            await asyncio.sleep(wait)
        if self.requests is not None:
            await self.requests.acquire(1)
        if self.tokens is not None:
            await self.tokens.acquire(est_tokens)

    def settle(self, est_tokens: int, used_tokens: int | None) -> None:
        if self.tokens is not None and used_tokens is not None:
            self.tokens.adjust(used_tokens - est_tokens)
