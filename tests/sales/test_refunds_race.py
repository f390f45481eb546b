"""Refund races through a real server (`furusato run`, uvicorn, many threads) on SQLite and
PostgreSQL: 20 refunds of one order at once make one refund at Stripe, one `refunds` row,
one status change and one audit row, and every answer is that refund; the same for a demo
order, which is refunded inside the claim's own transaction."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from backend.core.db import make_engine, make_session_factory
from backend.core.models import AuditEntry
from backend.payments.models import Payment
from backend.sales.models import FreeSerial, Order, Refund
from minting.store import MintJobRow
from tests.conftest import ServerProcess
from tests.factories import staff_headers
from tests.payments.conftest import API_KEY, WEBHOOK_SECRET
from tests.payments.fake_stripe import FakeStripe, completed, event, signed_event
from tests.sales.conftest import order_body

pytestmark = pytest.mark.chain

COPIES = 20


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    fake = FakeStripe(API_KEY).start()
    yield fake
    fake.stop()


def _at_once(count: int, action: Callable[[], requests.Response]) -> list[requests.Response]:
    gate = threading.Barrier(count)

    def run(_index: int) -> requests.Response:
        gate.wait()
        return action()

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def _card_order(url: str, fake: FakeStripe) -> str:
    created = requests.post(f"{url}/api/v1/orders", json=order_body(payment_method="card"), timeout=30).json()
    body, headers = signed_event(
        event("checkout.session.completed", completed(fake.session_for(created["order_id"]))), WEBHOOK_SECRET
    )
    assert (
        requests.post(f"{url}/api/v1/payments/card/webhook", data=body, headers=headers, timeout=30).status_code == 200
    )
    order_id: str = created["order_id"]
    return order_id


def _demo_order(url: str) -> str:
    created = requests.post(f"{url}/api/v1/orders", json=order_body(email="demo@example.jp"), timeout=30).json()
    paid = requests.post(
        f"{url}/api/v1/orders/{created['order_id']}/demo-pay",
        headers={"Authorization": f"Bearer {created['order_token']}"},
        timeout=30,
    )
    assert paid.status_code == 200
    order_id: str = created["order_id"]
    return order_id


def _refunded_once(url: str, sessions: sessionmaker[Session], headers: dict[str, str], order_id: str) -> dict[str, Any]:
    target = f"{url}/api/v1/staff/towns/hoshikawa/orders/{order_id}/refund"

    responses = _at_once(
        COPIES, lambda: requests.post(target, json={"reason": "二重注文"}, headers=headers, timeout=60)
    )

    assert Counter(r.status_code for r in responses) == {201: 1, 200: COPIES - 1}, [r.text for r in responses]
    bodies = [r.json() for r in responses]
    # Everyone answers the one refund: the winner's, settled; the others saw it in flight
    # (requested, Stripe not yet answered) or done.
    assert {(b["order_id"], b["reason"], b["created_at"]) for b in bodies} == {
        (order_id, "二重注文", bodies[0]["created_at"])
    }
    assert {b["status"] for b in bodies} <= {"requested", "succeeded"}
    (winner,) = [r.json() for r in responses if r.status_code == 201]
    with sessions() as session:
        assert session.scalar(select(func.count()).where(Refund.order_id == order_id)) == 1
        order = session.get(Order, order_id)
        assert order is not None
        assert order.status == "refunded"
        audit = session.scalars(
            select(AuditEntry.before).where(AuditEntry.target_type == "order", AuditEntry.target_id == order_id)
        ).all()
        assert len(audit) == 1  # one audit row, of one status change: paid → refunded
        assert '"status":"paid"' in audit[0]
        assert session.scalar(select(Payment.status).where(Payment.order_id == order_id)) == "refunded"
        assert session.scalar(select(func.count()).where(MintJobRow.order_ref.startswith(f"{order_id}:"))) == 0
    answer: dict[str, Any] = winner
    return answer


def _race(server: ServerProcess, database_url: str, fake: FakeStripe) -> None:
    server.wait_healthy()
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    try:
        headers = staff_headers(sessions, "hoshikawa", "owner")
        card = _card_order(server.url, fake)
        demo = _demo_order(server.url)

        card_refund = _refunded_once(server.url, sessions, headers, card)

        assert len(fake.refund_requests()) == 1  # one request reached Stripe, not twenty
        assert list(fake.refunds) == [card_refund["provider_ref"]]
        assert card_refund["status"] == "succeeded"

        demo_refund = _refunded_once(server.url, sessions, headers, demo)

        assert demo_refund["status"] == "succeeded"
        assert len(fake.refund_requests()) == 1
        with sessions() as session:  # both cards' numbers came back, once each
            assert sorted(session.scalars(select(FreeSerial.token_id))) == [1, 2]
    finally:
        engine.dispose()


def _server(start_server: Callable[..., ServerProcess], data_dir: Path, fake: FakeStripe, *extra: str) -> ServerProcess:
    server: ServerProcess = start_server(
        ["--chain", "eth-tester://", "--data-dir", str(data_dir), *extra],
        env={
            "FURUSATO_MINT_WORKER": "false",
            "FURUSATO_CARD_API_KEY": API_KEY,
            "FURUSATO_CARD_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "FURUSATO_CARD_API_BASE": fake.url,
        },
    )
    return server


def test_20_concurrent_refunds_of_one_order_refund_once_on_sqlite(
    start_server: Callable[..., ServerProcess], tmp_path: Path, fake_stripe: FakeStripe
) -> None:
    data_dir = tmp_path / "data"
    server = _server(start_server, data_dir, fake_stripe)
    _race(server, f"sqlite:///{data_dir / 'furusato.db'}", fake_stripe)


@pytest.mark.postgres
def test_20_concurrent_refunds_of_one_order_refund_once_on_postgresql(
    start_server: Callable[..., ServerProcess], tmp_path: Path, fake_stripe: FakeStripe, postgres_url: str
) -> None:
    server = _server(start_server, tmp_path / "data", fake_stripe, "--database-url", postgres_url)
    _race(server, postgres_url, fake_stripe)
