"""Device links: a shop's phone signs in once with its link and may then verify passes and
redeem its own shop's benefits, nothing else: another shop's benefit is 403, every staff
console route and every holder route refuse its token (401), and a revoked device (or one of a
closed shop) is a 401 from its next request."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from backend.benefits.models import Redemption, VerifierDevice
from tests.benefits.conftest import (
    STAFF,
    TOWN,
    Card,
    buy_card,
    clock,
    device_link,
    device_token,
    fresh_limits,
    make_benefit,
    make_shop,
    proof_for,
    runtime_of,
    staff,
    start_client,
)

pytestmark = pytest.mark.chain

SESSION = "/api/v1/verify/devices/session"


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    yield from start_client(tmp_path_factory.mktemp("devices") / "data")


@pytest.fixture(scope="module")
def world(app_client: TestClient) -> dict[str, Any]:
    owner = staff(app_client, "owner")
    bath, cafe = make_shop(app_client, owner, "星川温泉"), make_shop(app_client, owner, "星川カフェ")
    return {
        "owner": owner,
        "bath": bath,
        "cafe": cafe,
        "bath_benefit": make_benefit(app_client, owner, bath, "day")["id"],
        "cafe_benefit": make_benefit(app_client, owner, cafe, "day", title_ja="コーヒー")["id"],
        "card": buy_card(app_client),
    }


@pytest.fixture
def client(app_client: TestClient) -> TestClient:
    return fresh_limits(app_client)


def test_a_link_signs_one_phone_in_once(client: TestClient, world: dict[str, Any]) -> None:
    link = device_link(client, world["owner"], world["bath"], "受付のスマホ")
    public_url = runtime_of(client).settings.public_url
    assert link["link_url"].startswith(f"{public_url}/verify/#link=")
    assert datetime.fromisoformat(link["expires_at"]) - datetime.now(UTC) > timedelta(hours=23)
    opened = client.post(SESSION, json={"link": link["link_url"]})
    assert opened.status_code == 200, opened.text
    body = opened.json()
    assert body["device_token"].startswith("fdv_")
    assert (body["shop"]["id"], body["town"]["slug"], body["label"]) == (world["bath"], TOWN, "受付のスマホ")
    # The same link again (a second phone, a forwarded message): refused, and says why.
    again = client.post(SESSION, json={"link": link["link_url"].rsplit("#link=", 1)[1]})
    assert (again.status_code, again.json()["error"]["code"]) == (401, "link_invalid")
    assert "already used" in again.json()["error"]["message"]
    me = client.get("/api/v1/verify/me", headers={"Authorization": f"Bearer {body['device_token']}"})
    assert me.status_code == 200, me.text
    assert me.json() == {
        "kind": "device",
        "town": {"slug": TOWN, "name_ja": "星川町", "name_en": "Hoshikawa Town"},
        "shop": {"id": world["bath"], "name_ja": "星川温泉", "name_en": "星川温泉 (en)"},
        "device_id": link["device_id"],
        "label": "受付のスマホ",
        "email": None,
        "role": None,
    }
    # Only hashes are stored: neither the link's secret nor the token is in the row.
    with runtime_of(client).sessions() as session:
        row = session.get(VerifierDevice, link["device_id"])
        assert row is not None
        stored = f"{row.link_hash} {row.session_hash}"
    assert link["link_url"].rsplit("=", 1)[1] not in stored
    assert body["device_token"] not in stored


def test_an_expired_or_unknown_link_is_refused(client: TestClient, world: dict[str, Any]) -> None:
    link = device_link(client, world["owner"], world["bath"])
    with clock(client, datetime.now(UTC) + timedelta(hours=24, seconds=1)):
        late = client.post(SESSION, json={"link": link["link_url"]})
    assert (late.status_code, late.json()["error"]["code"]) == (401, "link_invalid")
    assert "expired" in late.json()["error"]["message"]
    unknown = client.post(SESSION, json={"link": "x" * 43})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (401, "link_invalid")


def test_a_device_verifies_and_redeems_for_its_shop_only(client: TestClient, world: dict[str, Any]) -> None:
    card: Card = world["card"]
    _device_id, device = device_token(client, world["owner"], world["bath"])
    verified = client.post("/api/v1/verify", json={"proof": proof_for(client, card)}, headers=device)
    assert verified.json()["valid"] is True
    assert [benefit["id"] for benefit in verified.json()["benefits"]] == [world["bath_benefit"]]
    own = client.post(
        f"/api/v1/benefits/{world['bath_benefit']}/redemptions", json={"proof": proof_for(client, card)}, headers=device
    )
    assert own.status_code == 201, own.text
    other = client.post(
        f"/api/v1/benefits/{world['cafe_benefit']}/redemptions", json={"proof": proof_for(client, card)}, headers=device
    )
    assert (other.status_code, other.json()["error"]["code"]) == (403, "forbidden")
    with runtime_of(client).sessions() as session:
        assert session.scalar(select(func.count()).where(Redemption.benefit_id == world["cafe_benefit"])) == 0
    # Its list is its shop's; a staff verifier's is the town's.
    cafe_device = device_token(client, world["owner"], world["cafe"])[1]
    listed = client.get("/api/v1/verify/redemptions", headers=cafe_device)
    assert listed.status_code == 200
    assert listed.json()["total"] == 0
    mine = client.get("/api/v1/verify/redemptions", headers=device).json()
    assert {item["shop"]["id"] for item in mine["items"]} == {world["bath"]}
    assert "holder_address" not in mine["items"][0]
    town_wide = client.get("/api/v1/verify/redemptions", headers=staff(client, "verifier")).json()
    assert town_wide["total"] >= 1


def _staff_operations(client: TestClient) -> list[tuple[str, str]]:
    document = client.app.openapi()  # type: ignore[attr-defined]
    return [
        (method.upper(), path)
        for path, item in document["paths"].items()
        if path.startswith("/api/v1/staff/towns/") or path == "/api/v1/staff/me"
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    ]


def _concrete(path: str) -> str:
    concrete = path.replace("{slug}", TOWN)
    for name in ("code", "token"):
        concrete = concrete.replace("{" + name + "}", "abc123")
    return re.sub(r"{\w+}", "1", concrete)


def test_a_device_token_opens_no_console_or_holder_route(client: TestClient, world: dict[str, Any]) -> None:
    _device_id, device = device_token(client, world["owner"], world["bath"])
    operations = _staff_operations(client)
    assert len(operations) > 30
    answers = {
        f"{method} {path}": client.request(
            method, _concrete(path), headers=device, json={} if method != "GET" else None
        ).status_code
        for method, path in operations
    }
    assert set(answers.values()) == {401}, {k: v for k, v in answers.items() if v != 401}
    for path in ("/api/v1/holders/me", "/api/v1/holders/me/cards", "/api/v1/holders/me/pass"):
        assert client.get(path, headers=device).status_code == 401, path


def test_a_revoked_device_is_refused_at_its_next_request(client: TestClient, world: dict[str, Any]) -> None:
    device_id, device = device_token(client, world["owner"], world["bath"])
    proof = proof_for(client, world["card"])
    assert client.post("/api/v1/verify", json={"proof": proof}, headers=device).status_code == 200
    revoked = client.delete(f"{STAFF}/devices/{device_id}", headers=world["owner"])
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"
    for method, path, body in (
        ("POST", "/api/v1/verify", {"proof": proof}),
        ("POST", f"/api/v1/benefits/{world['bath_benefit']}/redemptions", {"proof": proof}),
        ("GET", "/api/v1/verify/me", None),
        ("GET", "/api/v1/verify/redemptions", None),
    ):
        refused = client.request(method, path, json=body, headers=device)
        assert (refused.status_code, refused.json()["error"]["code"]) == (401, "unauthorized"), path
    listed = client.get(f"{STAFF}/shops/{world['bath']}/devices", headers=world["owner"]).json()
    row = next(item for item in listed["items"] if item["id"] == device_id)
    assert row["status"] == "revoked"
    assert set(row) == {
        "id",
        "shop_id",
        "label",
        "status",
        "link_expires_at",
        "paired_at",
        "last_seen_at",
        "revoked_at",
        "created_at",
    }
    # Revoking again answers the same, without a second audit row; another town's device id is 404.
    assert client.delete(f"{STAFF}/devices/{device_id}", headers=world["owner"]).json()["status"] == "revoked"
    assert client.delete(f"{STAFF}/devices/2000000000", headers=world["owner"]).status_code == 404


def test_a_closed_shops_device_stops(client: TestClient, world: dict[str, Any]) -> None:
    owner = world["owner"]
    shop = make_shop(client, owner, "閉店する店")
    _device_id, device = device_token(client, owner, shop)
    assert client.get("/api/v1/verify/me", headers=device).status_code == 200
    assert client.patch(f"{STAFF}/shops/{shop}", headers=owner, json={"archived": True}).status_code == 200
    assert client.get("/api/v1/verify/me", headers=device).status_code == 401
    assert client.patch(f"{STAFF}/shops/{shop}", headers=owner, json={"archived": False}).status_code == 200
    assert client.get("/api/v1/verify/me", headers=device).status_code == 200


def test_last_seen_moves_at_most_once_a_minute(client: TestClient, world: dict[str, Any]) -> None:
    device_id, device = device_token(client, world["owner"], world["bath"])

    def last_seen() -> datetime | None:
        with runtime_of(client).sessions() as session:
            row = session.get(VerifierDevice, device_id)
            assert row is not None
            return row.last_seen_at

    paired = last_seen()
    start = datetime.now(UTC)
    with clock(client, start + timedelta(seconds=30)):
        assert client.get("/api/v1/verify/me", headers=device).status_code == 200
    assert last_seen() == paired
    later = start + timedelta(minutes=2)
    with clock(client, later):
        assert client.get("/api/v1/verify/me", headers=device).status_code == 200
    seen = last_seen()
    assert seen is not None
    assert seen.replace(tzinfo=UTC) == later
