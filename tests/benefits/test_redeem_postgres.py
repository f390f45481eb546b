"""The redemption race on PostgreSQL (the production database, where the 20 requests truly
run at once in separate connections): one redemption, nineteen 409 `already_redeemed`, never
a 500 — the unique key decides, the loser's INSERT waits for the winner's commit and fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.benefits.conftest import (
    assert_exactly_one,
    buy_card,
    device_token,
    make_benefit,
    make_shop,
    proof_for,
    redeem_at_once,
    staff,
    start_client,
)

pytestmark = pytest.mark.chain


@pytest.fixture
def pg_client(postgres_url: str, tmp_path: Path) -> Iterator[TestClient]:
    yield from start_client(tmp_path / "data", database_url=postgres_url)


def test_twenty_taps_at_once_redeem_once_on_postgres(pg_client: TestClient) -> None:
    owner = staff(pg_client, "owner")
    shop = make_shop(pg_client, owner, "星川温泉")
    benefit = make_benefit(pg_client, owner, shop, "day")
    _device_id, device = device_token(pg_client, owner, shop)
    card = buy_card(pg_client)
    responses = redeem_at_once(pg_client, benefit["id"], proof_for(pg_client, card), device)
    assert_exactly_one(pg_client, responses, benefit["id"])
    # A staff verifier's taps race the same way, against the device's redemption already made.
    second = make_benefit(pg_client, owner, shop, "week")
    responses = redeem_at_once(pg_client, second["id"], proof_for(pg_client, card), staff(pg_client, "verifier"))
    assert_exactly_one(pg_client, responses, second["id"])
