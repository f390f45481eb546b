"""Fixtures for the sales API: an app on a fresh eth-tester chain, and helpers to order."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from web3.types import TxReceipt

from backend.app import create_app
from backend.core.config import Settings
from backend.payments.models import Payment
from backend.runtime import Runtime
from backend.sales.models import BuyerCount, Drop, DropSerial, Order
from minting.resident_card import ResidentCardClient
from minting.signing import Voucher

OrderBody = dict[str, Any]


def order_body(**overrides: Any) -> OrderBody:
    body: OrderBody = {
        "drop_id": 1,
        "quantity": 1,
        "email": "supporter@example.jp",
        "prefecture": "27",
        "payment_method": "demo",
    }
    body.update(overrides)
    return body


def bearer(created: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {created['order_token']}"}


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def snapshot(client: TestClient) -> dict[str, Any]:
    """Everything an order attempt may change: stock, orders, payments, per-buyer counts."""
    with runtime_of(client).sessions() as session:
        return {
            "reserved": session.scalars(select(Drop.reserved).order_by(Drop.id)).all(),
            "serials": session.scalars(select(DropSerial.next_serial).order_by(DropSerial.drop_id)).all(),
            "orders": session.execute(select(Order.id, Order.status).order_by(Order.id)).all(),
            "payments": session.scalar(select(func.count()).select_from(Payment)),
            "counts": session.execute(select(BuyerCount.buyer, BuyerCount.count).order_by(BuyerCount.buyer)).all(),
        }


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """`make_client(**settings)` → a TestClient on a fresh chain; closed at the end."""
    clients: list[TestClient] = []

    def _make(**overrides: Any) -> TestClient:
        settings = Settings(chain="eth-tester://", data_dir=tmp_path / f"data{len(clients)}", **overrides)
        client = TestClient(create_app(settings))
        client.__enter__()
        clients.append(client)
        return client

    yield _make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def redeem(card: ResidentCardClient, signed: dict[str, Any]) -> TxReceipt:
    """The buyer's wallet redeems one voucher as the API gave it (pays on chain, gets the card)."""
    voucher = Voucher(
        signed["buyer"],
        signed["token_id"],
        int(signed["price_wei"]),
        signed["deadline"],
        bytes.fromhex(signed["order_ref"][2:]),
    )
    return card.purchase(voucher, bytes.fromhex(signed["signature"][2:]))
