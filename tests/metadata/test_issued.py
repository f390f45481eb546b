"""When a card counts as issued: a paid order's card stays hidden until its mint job is
confirmed or the indexer has seen it (no worker runs here, so nothing mints by itself)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from backend.app import create_app
from backend.core.config import Settings
from backend.core.db import session_scope
from minting.store import MintJobRow, TokenOwnerRow

pytestmark = pytest.mark.chain

ORDER = {"drop_id": 1, "quantity": 2, "email": "a@example.com", "prefecture": "27", "payment_method": "demo"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(chain="eth-tester://", data_dir=tmp_path / "data"))) as client:
        yield client


def test_paid_card_is_not_found_until_its_mint_is_confirmed_or_indexed(client: TestClient) -> None:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    created = client.post("/api/v1/orders", json=ORDER).json()
    auth = {"Authorization": f"Bearer {created['order_token']}"}
    paid = client.post(f"/api/v1/orders/{created['order_id']}/demo-pay", headers=auth).json()
    assert paid["status"] == "paid"
    first, second = paid["token_ids"]
    contract = runtime.card_contract

    def status(token_id: int) -> int:
        response = client.get(f"/api/v1/tokens/{contract}/{token_id}")
        if response.status_code == 404:
            assert response.json()["error"]["code"] == "token_not_found"
        return response.status_code

    assert (status(first), status(second)) == (404, 404)

    with session_scope(runtime.sessions) as session:
        session.execute(update(MintJobRow).where(MintJobRow.token_id == first).values(status="confirmed"))
    assert (status(first), status(second)) == (200, 404)

    with session_scope(runtime.sessions) as session:
        session.add(
            TokenOwnerRow(
                chain_id=runtime.manifest.chain_id,
                contract=contract,
                token_id=second,
                owner="0x" + "ab" * 20,
                block_number=1,
            )
        )
    assert (status(first), status(second)) == (200, 200)
