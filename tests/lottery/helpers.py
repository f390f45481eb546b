"""Helpers for the lottery backend's tests: a lottery drop on the app's chain, applications,
the job with a clock the test moves, and moving a lottery's dates into the past."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from web3 import Web3

from backend.core.db import session_scope
from backend.lottery.announce import announce
from backend.lottery.draw import LotteryJob
from backend.lottery.models import Lottery, LotteryApplication
from backend.runtime import Runtime
from backend.sales.drops import DropTerms, create_card_drop
from backend.sales.models import Drop, Order
from backend.towns.demo import seed_demo_town
from minting.store import OnceTxRow


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def make_lottery(
    runtime: Runtime,
    *,
    supply: int = 10,
    limit: int = 5,
    opens_in: timedelta = timedelta(0),
    closes_in: timedelta = timedelta(days=1),
    draw_after_close: timedelta = timedelta(hours=1),
    pay_within_hours: int = 48,
    payment_methods: str = "demo,card,wallet",
) -> int:
    """A published lottery drop of the demo town, its series on chain; its id."""
    now = datetime.now(UTC)
    terms = DropTerms(
        title_ja="抽選テスト",
        title_en="Lottery test",
        supply=supply,
        price_jpy=1_000,
        price_wei=Web3.to_wei(1, "milliether"),
        per_buyer_limit=limit,
        starts_at=now + opens_in - timedelta(seconds=1),
        payment_methods=payment_methods,
    )
    with session_scope(runtime.sessions) as session:
        town = seed_demo_town(session)
        drop = create_card_drop(session, runtime.chain, runtime.card_contract, runtime.admin(), town, terms)
        drop.sale_mode = "lottery"
        drop.applications_close_at = now + closes_in
        drop.draw_at = now + closes_in + draw_after_close
        drop.pay_within_hours = pay_within_hours
        session.flush()
        announce(session, runtime.vault, drop.id)
        return drop.id


def application_body(index: int = 0, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "email": f"applicant{index}@example.jp",
        "prefecture": f"{index % 47 + 1:02d}",
        "quantity": 1,
    }
    body.update(overrides)
    return body


def apply(client: TestClient, drop_id: int, body: dict[str, Any], key: str | None = None) -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(f"/api/v1/drops/{drop_id}/applications", json=body, headers=headers)


def read_application(client: TestClient, created: dict[str, Any]) -> dict[str, Any]:
    response = client.get(
        f"/api/v1/applications/{created['application_id']}",
        headers={"Authorization": f"Bearer {created['application_token']}"},
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def close_now(runtime: Runtime, drop_id: int, *, draw_too: bool = True) -> datetime:
    """Move the drop's close (and draw) into the past, as time passing would; the moment used."""
    now = datetime.now(UTC)
    values: dict[str, Any] = {"applications_close_at": now - timedelta(seconds=2)}
    if draw_too:
        values["draw_at"] = now - timedelta(seconds=1)
    with session_scope(runtime.sessions) as session:
        session.execute(update(Drop).where(Drop.id == drop_id).values(**values))
        if draw_too:  # a lottery closed already keeps its own copy of the date
            closed = (Lottery.drop_id == drop_id) & Lottery.draw_at.is_not(None)
            session.execute(update(Lottery).where(closed).values(draw_at=values["draw_at"]))
    return now


class KillPoint(BaseException):
    """A "kill" at a failpoint: a BaseException, so no step's error handling catches it."""


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def job_of(
    runtime: Runtime, clock: Clock | None = None, kill_at: str | None = None, only: int | None = None
) -> LotteryJob:
    """The runtime's lottery job, with the test's clock; `kill_at` stops it at that failpoint;
    `only` keeps it to one drop's lottery (tests sharing an app)."""
    job = runtime.lottery_job()
    if only is not None:
        job.only = frozenset({only})
    if clock is not None:
        job.clock = clock

    def checkpoint(name: str) -> None:
        if name == kill_at:
            raise KillPoint(name)

    job.checkpoint = checkpoint
    return job


def sweeps(job: LotteryJob, rounds: int) -> None:
    """Run `rounds` job rounds."""
    for _ in range(rounds):
        job.sweep()


def sweep_until(job: LotteryJob, done: Callable[[], bool], rounds: int = 20) -> None:
    """Run job rounds until `done()` (each round is one pass over every step)."""
    for _ in range(rounds):
        job.sweep()
        if done():
            return
    raise AssertionError(f"not done after {rounds} rounds")


def stage(runtime: Runtime, drop_id: int) -> str:
    with runtime.sessions() as session:
        lottery = session.get(Lottery, drop_id)
        assert lottery is not None
        return lottery.stage


def lottery_orders(runtime: Runtime, drop_id: int) -> list[tuple[str, str, int]]:
    """(order id, status, quantity) of every order of the drop."""
    with runtime.sessions() as session:
        rows = session.execute(
            select(Order.id, Order.status, Order.quantity).where(Order.drop_id == drop_id).order_by(Order.id)
        ).all()
    return [(order_id, status, quantity) for order_id, status, quantity in rows]


def anchor_rows(runtime: Runtime, drop_id: int) -> int:
    with runtime.sessions() as session:
        count = session.scalar(
            select(func.count()).select_from(OnceTxRow).where(OnceTxRow.purpose.like(f"lottery:drop:{drop_id}:anchor%"))
        )
    return int(count or 0)


def anchor_txs_on_chain(runtime: Runtime, sender: str, list_hash: str) -> list[str]:
    """Hashes of every transaction on chain from `sender` to itself carrying `list_hash`."""
    w3 = runtime.chain.w3
    found = []
    for number in range(int(w3.eth.block_number) + 1):
        block = w3.eth.get_block(number, full_transactions=True)
        for tx in block["transactions"]:
            assert not isinstance(tx, bytes)
            raw = tx.get("input", tx.get("data"))
            data = raw.hex() if isinstance(raw, bytes) else str(raw)
            if (
                str(tx["from"]).lower() == sender.lower()
                and str(tx.get("to") or "").lower() == sender.lower()
                and data.removeprefix("0x") == list_hash
            ):
                found.append(tx["hash"].to_0x_hex())
    return found


def entry_of(runtime: Runtime, application_id: str) -> LotteryApplication:
    with runtime.sessions() as session:
        application = session.get(LotteryApplication, application_id)
        assert application is not None
        return application
