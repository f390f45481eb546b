"""POST /api/v1/benefits/{benefit_id}/redemptions on SQLite: at most one redemption per card
per period, enforced by the database (20 taps at once → one); the next period allowed again;
a card moved to a new holder mid-period stays redeemed; the refusals in their order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.benefits.models import Redemption
from backend.benefits.periods import JST
from backend.core.models import AuditEntry
from tests.benefits.conftest import (
    STAFF,
    assert_exactly_one,
    buy_card,
    clock,
    device_token,
    fresh_limits,
    make_benefit,
    make_shop,
    move_card,
    proof_for,
    redeem_at_once,
    runtime_of,
    staff,
    start_client,
)
from tests.factories import add_plain_drop

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    yield from start_client(tmp_path_factory.mktemp("redeem") / "data")


@pytest.fixture(scope="module")
def world(app_client: TestClient) -> dict[str, Any]:
    owner = staff(app_client, "owner")
    bath = make_shop(app_client, owner, "星川温泉")
    device_id, device = device_token(app_client, owner, bath)
    return {"owner": owner, "bath": bath, "device": device, "device_id": device_id}


@pytest.fixture
def client(app_client: TestClient) -> TestClient:
    return fresh_limits(app_client)


def redeem(client: TestClient, benefit_id: int, proof: str, headers: dict[str, str]) -> Any:
    return client.post(f"/api/v1/benefits/{benefit_id}/redemptions", json={"proof": proof}, headers=headers)


def test_twenty_taps_at_once_redeem_once(client: TestClient, world: dict[str, Any]) -> None:
    benefit = make_benefit(client, world["owner"], world["bath"], "month")
    card = buy_card(client)
    responses = redeem_at_once(client, benefit["id"], proof_for(client, card), world["device"])
    assert_exactly_one(client, responses, benefit["id"])
    made = next(response.json() for response in responses if response.status_code == 201)
    assert made["benefit_id"] == benefit["id"]
    assert made["period_key"] == datetime.now(UTC).astimezone(JST).strftime("%Y-%m")
    assert made["shop"]["name_ja"] == "星川温泉"
    assert made["number"].lstrip("0") == str(card.token_id)
    with runtime_of(client).sessions() as session:
        actor = session.scalar(
            select(AuditEntry.actor).where(
                AuditEntry.target_type == "redemption", AuditEntry.target_id == str(made["redemption_id"])
            )
        )
    assert actor == f"device:{world['device_id']}"


def test_the_next_period_is_allowed_again(client: TestClient, world: dict[str, Any]) -> None:
    benefit = make_benefit(client, world["owner"], world["bath"], "month")
    card = buy_card(client)
    now = datetime.now(UTC)
    first = redeem(client, benefit["id"], proof_for(client, card, now=now), world["device"])
    assert first.status_code == 201, first.text
    again = redeem(client, benefit["id"], proof_for(client, card, now=now), world["device"])
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_redeemed")
    assert first.json()["available_again_at"] is not None
    # The first instant of next month in Japan: the verify clock moves there, and so does the proof.
    next_month = datetime.fromisoformat(first.json()["available_again_at"])
    assert next_month.astimezone(JST).day == 1
    assert next_month.astimezone(JST).hour == 0
    with clock(client, next_month):
        later = redeem(client, benefit["id"], proof_for(client, card, now=next_month), world["device"])
        assert later.status_code == 201, later.text
        assert later.json()["period_key"] == next_month.astimezone(JST).strftime("%Y-%m")
        twice = redeem(client, benefit["id"], proof_for(client, card, now=next_month), world["device"])
        assert twice.status_code == 409
    # One second before, it was still the used month.
    just_before = next_month - timedelta(seconds=1)
    with clock(client, just_before):
        early = redeem(client, benefit["id"], proof_for(client, card, now=just_before), world["device"])
        assert (early.status_code, early.json()["error"]["code"]) == (409, "already_redeemed")


def test_a_daily_benefit_comes_back_at_midnight_in_japan(client: TestClient, world: dict[str, Any]) -> None:
    benefit = make_benefit(client, world["owner"], world["bath"], "day")
    card = buy_card(client)
    # 23:59 in Japan is 14:59 UTC: the same UTC day as 00:01 JST the next morning would not be.
    evening = datetime(2026, 12, 10, 23, 59, tzinfo=JST)
    morning = datetime(2026, 12, 11, 0, 1, tzinfo=JST)
    for moment, key in ((evening, "2026-12-10"), (morning, "2026-12-11")):
        with clock(client, moment):
            made = redeem(client, benefit["id"], proof_for(client, card, now=moment), world["device"])
        assert made.status_code == 201, made.text
        assert made.json()["period_key"] == key


def test_a_card_moved_mid_period_stays_redeemed(client: TestClient, world: dict[str, Any]) -> None:
    benefit = make_benefit(client, world["owner"], world["bath"], "month")
    card = buy_card(client)
    assert redeem(client, benefit["id"], proof_for(client, card), world["device"]).status_code == 201
    wallet = "0x" + "6b" * 20
    move_card(client, card, wallet)
    # The new holder's valid pass: the card is used for this month all the same.
    verified = client.post(
        "/api/v1/verify", json={"proof": proof_for(client, card, holder=wallet)}, headers=world["device"]
    )
    shown = next(b for b in verified.json()["benefits"] if b["id"] == benefit["id"])
    assert verified.json()["valid"] is True
    assert (shown["available"], shown["unavailable_reason"]) == (False, "already_redeemed")
    assert shown["last_redeemed_shop"]["name_ja"] == "星川温泉"
    refused = redeem(client, benefit["id"], proof_for(client, card, holder=wallet), world["device"])
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "already_redeemed")
    assert "星川温泉" in refused.json()["error"]["message"]
    # The old holder's pass no longer counts at all.
    stale = redeem(client, benefit["id"], proof_for(client, card), world["device"])
    assert (stale.status_code, stale.json()["error"]["code"]) == (409, "pass_invalid")
    assert "別の持ち主に移っています" in stale.json()["error"]["message"]


def test_refusals_in_their_order(client: TestClient, world: dict[str, Any]) -> None:
    owner = world["owner"]
    benefit = make_benefit(client, owner, world["bath"], "week")
    card = buy_card(client)
    proof = proof_for(client, card)
    missing = redeem(client, 2_000_000_000, proof, world["device"])
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "benefit_not_found")
    expired = proof_for(client, card, now=datetime.now(UTC) - timedelta(minutes=5))
    invalid = redeem(client, benefit["id"], expired, world["device"])
    assert (invalid.status_code, invalid.json()["error"]["code"]) == (409, "pass_invalid")
    assert "期限切れ" in invalid.json()["error"]["message"]
    paused = client.patch(f"{STAFF}/benefits/{benefit['id']}", headers=owner, json={"active": False})
    assert paused.status_code == 200, paused.text
    refused = redeem(client, benefit["id"], proof, world["device"])
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "benefit_unavailable")
    assert client.patch(f"{STAFF}/benefits/{benefit['id']}", headers=owner, json={"active": True}).status_code == 200
    ended = make_benefit(
        client,
        owner,
        world["bath"],
        "day",
        starts_at=(datetime.now(UTC) - timedelta(days=2)).isoformat(),
        ends_at=(datetime.now(UTC) - timedelta(days=1)).isoformat(),
    )
    out_of_term = redeem(client, ended["id"], proof, world["device"])
    assert (out_of_term.status_code, out_of_term.json()["error"]["code"]) == (409, "benefit_unavailable")
    with runtime_of(client).sessions() as session:
        town_id = session.scalar(select(Redemption.municipality_id).limit(1)) or 1
    other_series = add_plain_drop(runtime_of(client).sessions, town_id, kind="resident_card")
    for_others = make_benefit(client, owner, world["bath"], "day", series=[other_series])
    not_eligible = redeem(client, for_others["id"], proof, world["device"])
    assert (not_eligible.status_code, not_eligible.json()["error"]["code"]) == (409, "not_eligible")
    assert redeem(client, benefit["id"], proof, world["device"]).status_code == 201


def test_a_staff_verifier_redeems_and_is_the_audited_actor(client: TestClient, world: dict[str, Any]) -> None:
    benefit = make_benefit(client, world["owner"], world["bath"], "term")
    card = buy_card(client)
    verifier = staff(client, "verifier")
    made = redeem(client, benefit["id"], proof_for(client, card), verifier)
    assert made.status_code == 201, made.text
    assert made.json()["period_key"] == "term"
    assert made.json()["available_again_at"] is None
    with runtime_of(client).sessions() as session:
        entry = session.scalar(
            select(AuditEntry).where(
                AuditEntry.target_type == "redemption", AuditEntry.target_id == str(made.json()["redemption_id"])
            )
        )
    assert entry is not None
    assert entry.actor.startswith("verifier-")
    again = redeem(client, benefit["id"], proof_for(client, card), verifier)
    assert again.status_code == 409
    assert "再度は使えません" in again.json()["error"]["message"]


def test_an_analyst_cannot_redeem(client: TestClient, world: dict[str, Any]) -> None:
    benefit = make_benefit(client, world["owner"], world["bath"], "day")
    card = buy_card(client)
    refused = redeem(client, benefit["id"], proof_for(client, card), staff(client, "analyst"))
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
