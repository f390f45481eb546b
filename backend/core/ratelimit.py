"""An in-process token bucket, keyed (per email, per client IP): sign-in requests and orders.

Why: a sign-in request sends mail, so without a limit anyone could flood a mailbox or our
mail server; an order holds stock, so without a limit one script could hold a whole drop.
The buckets live in this process's memory; a deployment running several backend processes
(or hosts) gets one limit per process. `hit()` is the shared limiter: fixed windows counted in
the `rate_counters` table, so every process on the database counts against one limit (staff
sign-in and staff writes use it).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.orm import Session

from backend.core.models import RateCounter
from minting.store import insert_for

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


#: Counters of windows that ended this long ago are deleted now and then (windows ≤ 1 day).
COUNTER_RETENTION_SECONDS = 86_400
#: One `hit` in this many also deletes old counters, so the table stays small without a job.
_PRUNE_ONE_IN = 500


def window_start(window_seconds: int, now: float) -> int:
    """The start (Unix seconds) of the fixed window holding `now`."""
    return int(now // window_seconds) * window_seconds


def retry_after(window_seconds: int, now: float | None = None) -> int:
    """Whole seconds until the window holding `now` ends (the `Retry-After` of a 429)."""
    now = time.time() if now is None else now
    return max(1, int(window_start(window_seconds, now) + window_seconds - now + 0.999))


def hit(session: Session, key: str, limit: int, window_seconds: int, *, now: float | None = None) -> bool:
    """Count one hit of `key` in the current fixed window; True if it is within `limit`.

    One conditional upsert: insert the window's counter at 1, or add 1 only while it is below
    `limit`, returning the new count. No row back means the window is full, and the counter is
    left as it was. It runs in `session`'s transaction: commit it (a separate short session is
    best, so a refused request's rollback does not undo the count). Every process on the
    database shares the counters."""
    now = time.time() if now is None else now
    start = window_start(window_seconds, now)
    insert = insert_for(session)(RateCounter).values(key=key[:200], window_start=start, count=1)
    upsert = insert.on_conflict_do_update(
        index_elements=[RateCounter.key, RateCounter.window_start],
        set_={"count": RateCounter.count + 1},
        where=RateCounter.count < limit,
    ).returning(RateCounter.count)
    allowed = session.execute(upsert).scalar_one_or_none() is not None
    if secrets.randbelow(_PRUNE_ONE_IN) == 0:
        prune(session, now)
    return allowed


def prune(session: Session, now: float | None = None) -> int:
    """Delete counters of windows that started more than a day ago; returns how many."""
    now = time.time() if now is None else now
    result = session.execute(delete(RateCounter).where(RateCounter.window_start < now - COUNTER_RETENTION_SECONDS))
    return int(result.rowcount)  # type: ignore[attr-defined]
