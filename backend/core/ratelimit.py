"""An in-process token bucket, keyed (per email, per client IP): sign-in requests and orders.

Why: a sign-in request sends mail, so without a limit anyone could flood a mailbox or our
mail server; an order holds stock, so without a limit one script could hold a whole drop.
The buckets live in this process's memory; a deployment running several backend processes
(or hosts) gets one limit per process and needs a shared limiter (Redis, or a table) instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

#: Forget a key's bucket once it has been full for this long, so memory stays bounded.
_PRUNE_EVERY = 1_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """`capacity` requests per key, refilled evenly over `period` seconds."""

    def __init__(self, capacity: int, period: float, clock: Callable[[], float] = time.monotonic) -> None:
        if capacity < 1 or period <= 0:
            raise ValueError("capacity must be ≥ 1 and period > 0")
        self.capacity = capacity
        self.rate = capacity / period
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()
        self._calls = 0

    def allow(self, *keys: str) -> bool:
        """Take one token from each key's bucket, or none at all if any bucket is empty."""
        now = self.clock()
        with self._lock:
            self._calls += 1
            if self._calls % _PRUNE_EVERY == 0:
                self._prune(now)
            buckets = [self._refilled(key, now) for key in keys]
            if any(bucket.tokens < 1 for bucket in buckets):
                return False
            for bucket in buckets:
                bucket.tokens -= 1
            return True

    def _refilled(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.setdefault(key, _Bucket(float(self.capacity), now))
        bucket.tokens = min(float(self.capacity), bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        return bucket

    def _prune(self, now: float) -> None:
        full_after = self.capacity / self.rate
        for key in [key for key, bucket in self._buckets.items() if now - bucket.updated >= full_after]:
            del self._buckets[key]


def is_loopback(host: str | None) -> bool:
    """A client on this machine (tests, benchmarks, a proxy that did not pass the address on)."""
    return host in ("127.0.0.1", "::1")
