"""Applications and the job under concurrency, on SQLite and on PostgreSQL (where transactions
really run side by side):
applications racing the close are either in the fixed list or refused (never committed and
left out); one email applying many times at once gets one application; one Idempotency-Key
sent many times at once gets one answer; two jobs drawing at once make one set of orders."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from backend.app import create_app
from backend.core.config import Settings
from backend.lottery import algorithm, applications
from backend.lottery.applications import ApplicationRefused, apply
from backend.lottery.draw import LotteryJob
from backend.lottery.models import Lottery, LotteryApplication
from backend.lottery.schemas import ApplicationCreate, ApplicationCreated
from backend.runtime import Runtime
from backend.sales import idempotency
from tests.lottery.helpers import Clock, close_now, job_of, lottery_orders, make_lottery, runtime_of, stage, sweeps

pytestmark = pytest.mark.chain

THREADS = 24


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    database = request.getfixturevalue("postgres_url") if request.param == "postgres" else ""
    settings = Settings(chain="eth-tester://", data_dir=tmp_path / "data", database_url=database)
    with TestClient(create_app(settings)) as client:
        yield runtime_of(client)


def at_once(count: int, action: Callable[[int], Any]) -> list[Any]:
    gate = threading.Barrier(count)

    def run(index: int) -> Any:
        gate.wait()
        try:
            return action(index)
        except ApplicationRefused as refused:
            return refused

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def body(index: int, **overrides: Any) -> ApplicationCreate:
    return ApplicationCreate.model_validate(
        {"email": f"pg{index}@example.jp", "prefecture": "13", "quantity": 1, **overrides}
    )


def applying(runtime: Runtime, drop_id: int, now: datetime, key: str | None = None) -> Callable[[int], Any]:
    def action(index: int) -> Any:
        application = body(index) if key is None else body(0)
        body_hash = idempotency.request_hash({"drop_id": drop_id, **application.model_dump(mode="json")})
        return apply(
            runtime.sessions,
            runtime.vault,
            runtime.chain.chain_id,
            drop_id,
            application,
            idempotency_key=key,
            body_hash=body_hash,
            now=now,
        )

    return action


checked = threading.Semaphore(0)


class SlowCreated(ApplicationCreated):
    """Built between an application's stage check and its commit: it says so, then takes its
    time, so that the close certainly runs inside that window (the race the locks decide)."""

    def __init__(self, **fields: Any) -> None:
        checked.release()
        time.sleep(0.3)
        super().__init__(**fields)


def test_applications_racing_the_close_are_in_the_list_or_refused(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(applications, "ApplicationCreated", SlowCreated)
    for attempt in range(3):
        drop_id = make_lottery(runtime, supply=5, opens_in=-timedelta(minutes=1))
        believed_open = datetime.now(UTC) - timedelta(seconds=30)  # every applicant's clock says "open"
        closed_at = close_now(runtime, drop_id, draw_too=False)
        job = job_of(runtime, only=drop_id)
        apply_one = applying(runtime, drop_id, believed_open)

        def action(
            index: int,
            in_flight: int = attempt + 1,
            job: LotteryJob = job,
            drop_id: int = drop_id,
            at: datetime = closed_at,
            apply_one: Callable[[int], Any] = apply_one,
        ) -> Any:
            if index != THREADS // 2:
                return apply_one(index)
            for _ in range(in_flight):  # while that many are between their check and commit
                assert checked.acquire(timeout=60)
            return job.close(drop_id, at)

        results = at_once(THREADS, action)
        while checked.acquire(blocking=False):
            pass
        assert True in results  # the close happened, once
        accepted = {r.entry_id for r in results if isinstance(r, ApplicationCreated)}
        refused = [r for r in results if isinstance(r, ApplicationRefused)]
        assert {r.code for r in refused} <= {"applications_closed"}
        assert len(accepted) + len(refused) == THREADS - 1
        assert len(accepted) > attempt  # those the close waited for
        with runtime.sessions() as session:
            lottery = session.get(Lottery, drop_id)
            assert lottery is not None
            stored = session.execute(
                select(LotteryApplication.entry_id, LotteryApplication.quantity).where(
                    LotteryApplication.drop_id == drop_id
                )
            ).all()
        assert {entry for entry, _q in stored} == accepted  # nothing committed outside the list
        assert lottery.entries_count == len(accepted)
        assert lottery.list_hash == algorithm.list_hash([(e, int(q)) for e, q in stored])


def test_one_email_applying_many_times_at_once_gets_one_application(runtime: Runtime) -> None:
    drop_id = make_lottery(runtime, supply=5)
    now = datetime.now(UTC)
    same = applying(runtime, drop_id, now)
    results = at_once(THREADS, lambda _i: same(0))
    outcomes = Counter("created" if isinstance(r, ApplicationCreated) else r.code for r in results)
    assert outcomes == {"created": 1, "already_applied": THREADS - 1}


def test_one_idempotency_key_sent_many_times_at_once_gets_one_answer(runtime: Runtime) -> None:
    drop_id = make_lottery(runtime, supply=5)
    results = at_once(THREADS, applying(runtime, drop_id, datetime.now(UTC), key="pg-key"))
    created = [r for r in results if isinstance(r, ApplicationCreated)]
    replays = [r for r in results if isinstance(r, idempotency.Replay)]
    assert len(created) == 1
    assert len(created) + len(replays) == THREADS
    assert {r.body["entry_id"] for r in replays} <= {created[0].entry_id}
    with runtime.sessions() as session:
        count = session.scalar(
            select(func.count()).select_from(LotteryApplication).where(LotteryApplication.drop_id == drop_id)
        )
    assert count == 1


def test_jobs_drawing_at_once_make_one_set_of_orders(runtime: Runtime) -> None:
    drop_id = make_lottery(runtime, supply=15, limit=2)
    now = datetime.now(UTC)
    for index in range(25):
        apply_one = applying(runtime, drop_id, now)
        apply_one(index)
    clock = Clock()
    clock.now = close_now(runtime, drop_id) + timedelta(seconds=1)
    jobs = [job_of(runtime, clock, only=drop_id) for _ in range(4)]
    at_once(len(jobs), lambda index: sweeps(jobs[index], 4))
    for _ in range(5):
        jobs[0].sweep()
    assert stage(runtime, drop_id) == "drawn"
    with runtime.sessions() as session:
        lottery = session.get(Lottery, drop_id)
        assert lottery is not None
        assert lottery.server_seed is not None
        assert lottery.anchor_block_hash is not None
        entries = session.execute(
            select(LotteryApplication.entry_id, LotteryApplication.quantity).where(
                LotteryApplication.drop_id == drop_id
            )
        ).all()
    result = algorithm.draw(lottery.server_seed, lottery.anchor_block_hash, [(e, int(q)) for e, q in entries], 15)
    orders = lottery_orders(runtime, drop_id)
    assert sorted(q for _o, _s, q in orders) == sorted(e.quantity for e in result.winners)
    with runtime.sessions() as session:
        placed = session.scalars(
            select(LotteryApplication.entry_id).where(
                LotteryApplication.drop_id == drop_id, LotteryApplication.order_id.is_not(None)
            )
        ).all()
    assert sorted(placed) == sorted(e.entry_id for e in result.winners)
