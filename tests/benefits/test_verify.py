"""POST /api/v1/verify: a valid pass verifies with its town, series, number and the benefits
usable now; every kind of bad pass is refused with its reason (expired, altered at any byte,
signed by another key, a card now held by someone else, a refunded card, another town's
verifier, a card that does not exist)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pyseto
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from pyseto import Key
from sqlalchemy import select

from backend.benefits.models import Benefit
from backend.holders.pass_token import IMPLICIT_ASSERTION, public_keys
from tests.benefits.conftest import (
    TOWN,
    Card,
    buy_card,
    device_token,
    fresh_limits,
    make_benefit,
    make_shop,
    move_card,
    proof_for,
    runtime_of,
    staff,
    start_client,
)
from tests.factories import add_town

pytestmark = pytest.mark.chain

OTHER_TOWN = "tsukimi"


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    yield from start_client(tmp_path_factory.mktemp("verify") / "data")


@pytest.fixture(scope="module")
def world(app_client: TestClient) -> dict[str, Any]:
    """Two shops with a benefit each, a device of the first, a staff verifier, a card."""
    owner = staff(app_client, "owner")
    bath, cafe = make_shop(app_client, owner, "星川温泉"), make_shop(app_client, owner, "星川カフェ")
    bath_benefit = make_benefit(app_client, owner, bath, "month")
    cafe_benefit = make_benefit(app_client, owner, cafe, "day", title_ja="コーヒー1杯", title_en="A coffee")
    _device_id, device = device_token(app_client, owner, bath)
    add_town(runtime_of(app_client).sessions, OTHER_TOWN)
    return {
        "owner": owner,
        "device": device,
        "verifier": staff(app_client, "verifier"),
        "bath": bath,
        "bath_benefit": bath_benefit["id"],
        "cafe_benefit": cafe_benefit["id"],
        "card": buy_card(app_client),
    }


@pytest.fixture
def client(app_client: TestClient) -> TestClient:
    return fresh_limits(app_client)


def verify(client: TestClient, proof: str, headers: dict[str, str]) -> dict[str, Any]:
    response = client.post("/api/v1/verify", json={"proof": proof}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_valid_pass_verifies_with_town_series_number_and_the_shops_benefits(
    client: TestClient, world: dict[str, Any]
) -> None:
    card: Card = world["card"]
    body = verify(client, proof_for(client, card), world["device"])
    assert body["valid"] is True, body
    assert body["reason"] is None
    assert body["town"]["slug"] == TOWN
    assert body["town"]["name_ja"] == "星川町"
    assert body["series"]["drop_id"] == 1
    assert body["number"].lstrip("0") == str(card.token_id)
    assert body["card"] == {"chain_id": card.chain_id, "contract": card.contract, "token_id": card.token_id}
    # A device sees its own shop's benefits only; each usable now.
    assert [(b["id"], b["available"], b["title"]) for b in body["benefits"]] == [
        (world["bath_benefit"], True, "日帰り入浴無料")
    ]


def test_a_staff_verifier_sees_every_shops_benefits(client: TestClient, world: dict[str, Any]) -> None:
    body = verify(client, proof_for(client, world["card"]), world["verifier"])
    assert body["valid"] is True
    # Every shop's: these two shops' and the demo hot spring's (seeded with the demo town).
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.sessions() as session:
        town_benefits = set(session.scalars(select(Benefit.id)))
    assert {world["bath_benefit"], world["cafe_benefit"]} < town_benefits
    assert {b["id"] for b in body["benefits"]} == town_benefits


def test_an_expired_pass_is_refused_as_expired(client: TestClient, world: dict[str, Any]) -> None:
    stale = proof_for(client, world["card"], now=datetime.now(UTC) - timedelta(seconds=61), ttl_seconds=60)
    body = verify(client, stale, world["device"])
    assert (body["valid"], body["reason"], body["message_ja"]) == (False, "expired", "期限切れ")
    assert body["benefits"] == []
    assert body["town"] is None


def _altered(proof: str, index: int) -> str:
    replacement = "A" if proof[index] != "A" else "B"
    return proof[:index] + replacement + proof[index + 1 :]


def test_a_pass_altered_at_any_byte_is_refused_as_forged(client: TestClient, world: dict[str, Any]) -> None:
    proof = proof_for(client, world["card"])
    reasons = {verify(client, _altered(proof, index), world["device"])["reason"] for index in range(len(proof))}
    assert reasons == {"forged"}
    assert verify(client, proof, world["device"])["valid"] is True  # the original still passes


def _signed_elsewhere(payload: dict[str, Any], kid: str) -> str:
    key = Key.from_asymmetric_key_params(4, d=Ed25519PrivateKey.generate().private_bytes_raw())
    token = pyseto.encode(
        key,
        json.dumps(payload, separators=(",", ":")).encode(),
        footer=json.dumps({"kid": kid}).encode(),
        implicit_assertion=IMPLICIT_ASSERTION,
    )
    return token.decode()


def test_a_pass_signed_by_another_key_is_refused_as_forged(client: TestClient, world: dict[str, Any]) -> None:
    card: Card = world["card"]
    now = datetime.now(UTC).replace(microsecond=0)
    payload = {
        "v": 1,
        "town": TOWN,
        "chain_id": card.chain_id,
        "contract": card.contract,
        "token_id": card.token_id,
        "sub": card.holder,
        "iat": now.isoformat(),
        "exp": (now + timedelta(seconds=60)).isoformat(),
        "jti": "another-key",
    }
    our_kid = public_keys(runtime_of(client).sessions)[0]["kid"]
    # Claiming our key id, and naming a key of another deployment: both forged.
    for kid in (our_kid, "k4.pid.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"):
        body = verify(client, _signed_elsewhere(payload, kid), world["device"])
        assert (body["valid"], body["reason"], body["message_ja"]) == (False, "forged", "偽造または改ざん")


def test_a_pass_of_another_town_is_refused_and_another_towns_verifier_too(
    client: TestClient, world: dict[str, Any]
) -> None:
    card: Card = world["card"]
    # A proof naming another town, shown at this town's shop.
    body = verify(client, proof_for(client, card, town=OTHER_TOWN), world["device"])
    assert (body["reason"], body["message_ja"]) == ("other_town", "別の町のカード")
    # This town's proof shown to a verifier of another town (staff of that town).
    other_verifier = staff(client, "verifier", OTHER_TOWN)
    body = verify(client, proof_for(client, card), other_verifier)
    assert (body["valid"], body["reason"]) == (False, "other_town")


def test_a_card_that_does_not_exist_is_refused_as_unknown(client: TestClient, world: dict[str, Any]) -> None:
    body = verify(client, proof_for(client, world["card"], token_id=999_999), world["device"])
    assert (body["reason"], body["message_ja"]) == ("unknown_card", "見つからないカード")


def test_a_card_now_held_by_someone_else_is_refused(client: TestClient, world: dict[str, Any]) -> None:
    card = buy_card(client)
    proof = proof_for(client, card)  # made while the buyer held it (a screenshot kept)
    assert verify(client, proof, world["device"])["valid"] is True
    wallet = "0x" + "5a" * 20
    move_card(client, card, wallet)
    body = verify(client, proof, world["device"])
    assert (body["valid"], body["reason"], body["message_ja"]) == (False, "not_holder", "別の持ち主に移っています")
    # The new holder's own pass verifies.
    assert verify(client, proof_for(client, card, holder=wallet), world["device"])["valid"] is True


def test_a_refunded_card_is_refused_as_revoked(client: TestClient, world: dict[str, Any]) -> None:
    card = buy_card(client)
    refunded = client.post(
        f"/api/v1/staff/towns/{TOWN}/orders/{card.order_id}/refund", headers=world["owner"], json={"reason": "test"}
    )
    assert refunded.status_code == 201, refunded.text
    body = verify(client, proof_for(client, card), world["device"])
    assert (body["valid"], body["reason"], body["message_ja"]) == (False, "revoked", "返金により無効")


def test_verification_needs_a_verifier(client: TestClient, world: dict[str, Any]) -> None:
    proof = proof_for(client, world["card"])
    assert client.post("/api/v1/verify", json={"proof": proof}).status_code == 401
    analyst = staff(client, "analyst")  # staff, but not a role that verifies
    refused = client.post("/api/v1/verify", json={"proof": proof}, headers=analyst)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")


def test_a_staff_member_of_several_towns_names_one(client: TestClient, world: dict[str, Any]) -> None:
    from tests.factories import staff_session

    email, token, _csrf = staff_session(runtime_of(client).sessions, TOWN, "verifier")
    staff_session(runtime_of(client).sessions, OTHER_TOWN, "verifier", email)
    headers = {"Authorization": f"Bearer {token}"}
    proof = proof_for(client, world["card"])
    unnamed = client.post("/api/v1/verify", json={"proof": proof}, headers=headers)
    assert (unnamed.status_code, unnamed.json()["error"]["code"]) == (422, "town_required")
    named = client.post(f"/api/v1/verify?town={TOWN}", json={"proof": proof}, headers=headers)
    assert named.json()["valid"] is True
    elsewhere = client.post(f"/api/v1/verify?town={OTHER_TOWN}", json={"proof": proof}, headers=headers)
    assert elsewhere.json()["reason"] == "other_town"
