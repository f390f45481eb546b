"""The shared rate counters (`ratelimit.hit`): fixed windows, one conditional upsert, exact under
concurrency (PostgreSQL) and shared by separate engines (processes) on one database."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Barrier

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from backend.core import ratelimit
from backend.core.db import make_engine, make_session_factory, migrate
from backend.core.models import RateCounter


def hit(sessions: sessionmaker[Session], key: str, limit: int, now: float) -> bool:
    with sessions() as session:
        allowed = ratelimit.hit(session, key, limit, 60, now=now)
        session.commit()
        return allowed


def test_fixed_window_counts_to_the_limit_then_resets(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    migrate(engine)
    other = make_engine(f"sqlite:///{tmp_path / 'r.db'}")  # a second process's engine
    try:
        one, two = make_session_factory(engine), make_session_factory(other)
        results = [hit(one if n % 2 else two, "k", 3, 1_000.0 + n) for n in range(5)]
        assert results == [True, True, True, False, False]
        assert hit(one, "another", 3, 1_004.0)
        assert hit(two, "k", 3, 1_020.0)  # the next minute's window
        assert ratelimit.retry_after(60, 1_000.5) == 20
        with one() as session:
            assert (
                session.scalar(select(RateCounter.count).where(RateCounter.key == "k", RateCounter.window_start == 960))
                == 3
            )
            session.add(RateCounter(key="old", window_start=0, count=1))
            session.commit()
            assert ratelimit.prune(session, now=200_000.0) >= 1
            session.commit()
            assert session.scalar(select(func.count()).select_from(RateCounter).where(RateCounter.key == "old")) == 0
    finally:
        engine.dispose()
        other.dispose()


@pytest.mark.postgres
def test_concurrent_hits_allow_exactly_the_limit_on_postgres(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    try:
        migrate(engine)
        sessions = make_session_factory(engine)
        callers = 25
        barrier = Barrier(callers)

        def one(_n: int) -> bool:
            barrier.wait()
            return hit(sessions, "burst", 10, 5_000.0)

        with ThreadPoolExecutor(callers) as pool:
            results = list(pool.map(one, range(callers)))
        assert results.count(True) == 10
    finally:
        engine.dispose()
