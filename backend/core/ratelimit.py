"""Rate limits shared by every process: fixed windows counted in the `rate_counters` table.

Why limits: a sign-in request sends mail, so without a limit anyone could flood a mailbox or
our mail server; an order holds stock, so without a limit one script could hold a whole drop;
a staff write changes a town. Why in the database: a deployment running several API processes
behind one port must count against one limit, not one per process (holders' and staff sign-in,
orders, staff writes and campaign scans all count here).
"""

from __future__ import annotations

import secrets
import time

from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from backend.core.errors import ApiError
from backend.core.models import RateCounter
from minting.store import insert_for


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


def first_spent(sessions: sessionmaker[Session], *limits: tuple[str, int, int], now: float | None = None) -> int | None:
    """Count one hit of each `(key, limit, window_seconds)` in a short transaction of its own
    (so a refused request's rollback never undoes the count); the window of the first one
    spent (its later keys are then not counted, and `retry_after` of it is the 429's wait),
    or None when every one was within its limit."""
    with sessions() as counter:
        spent = next((window for key, limit, window in limits if not hit(counter, key, limit, window, now=now)), None)
        counter.commit()
    return spent


def allow(sessions: sessionmaker[Session], *limits: tuple[str, int, int]) -> bool:
    """`first_spent` as a yes or no: False at the first limit spent."""
    return first_spent(sessions, *limits) is None


def enforce(sessions: sessionmaker[Session], key: str, limit: tuple[int, int], message: str) -> None:
    """Count one hit of `key` against `limit` (count, window seconds); once spent, 429
    `rate_limited` with `Retry-After` and `message` (say what to wait for, in both languages)."""
    now = time.time()
    if first_spent(sessions, (key, *limit), now=now) is not None:
        wait = retry_after(limit[1], now)
        raise ApiError(429, "rate_limited", message, headers={"Retry-After": str(wait)})
