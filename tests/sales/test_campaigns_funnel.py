"""The funnel end to end: the figures equal what the test did. Scans go through `/c/{code}`,
orders through `POST /api/v1/orders` with the code the redirect carried, payments through
demo-pay, cards through the real mint pipeline (worker on the in-process chain), one order
is refunded after minting by the owner. On SQLite and on PostgreSQL (the aggregates are plain SQL)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.sales.conftest import bearer, order_body, runtime_of
from tests.sales.test_campaigns_api import ANDROID, GOOGLEBOT, IPHONE, TOWN, editor, make_campaign, scan

pytestmark = pytest.mark.chain

MINT_TIMEOUT_SECONDS = 60.0
FIGURES = ("scans", "unique_scans", "bot_scans", "orders", "paid", "minted", "refunded", "revenue_jpy")


def figures(row: dict[str, Any]) -> tuple[int, ...]:
    return tuple(row[name] for name in FIGURES)


def code_from_scan(client: TestClient, code: str, user_agent: str) -> str:
    """Scan like a phone and return the code the drop page receives (`?c=`)."""
    response = scan(client, code, user_agent)
    assert response.status_code == 302
    location: str = response.headers["location"]
    (carried,) = parse_qs(urlsplit(location).query)["c"]
    return carried


def order(client: TestClient, email: str, quantity: int = 1, campaign: str | None = None) -> dict[str, Any]:
    extra = {"campaign_code": campaign} if campaign else {}
    response = client.post("/api/v1/orders", json=order_body(email=email, quantity=quantity, **extra))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def pay(client: TestClient, created: dict[str, Any]) -> None:
    response = client.post(f"/api/v1/orders/{created['order_id']}/demo-pay", headers=bearer(created))
    assert response.json()["status"] == "paid", response.text


def await_minted(client: TestClient, created: dict[str, Any]) -> None:
    deadline = time.monotonic() + MINT_TIMEOUT_SECONDS
    while True:
        body = client.get(f"/api/v1/orders/{created['order_id']}", headers=bearer(created)).json()
        if body["status"] == "minted":
            return
        assert body["status"] in ("paid", "minting"), body
        assert time.monotonic() < deadline, f"not minted within {MINT_TIMEOUT_SECONDS} s: {body}"
        time.sleep(0.1)


def refund(client: TestClient, created: dict[str, Any]) -> None:
    """The owner refunds the order in the console's API (demo orders are refunded at once)."""
    owner = editor(client, role="owner")
    response = client.post(
        f"{TOWN}/orders/{created['order_id']}/refund", json={"reason": "ご本人の申し出"}, headers=owner
    )
    assert response.status_code == 201, response.text
    assert client.get(f"/api/v1/orders/{created['order_id']}", headers=bearer(created)).json()["status"] == "refunded"


@pytest.fixture(params=["sqlite", "postgresql"])
def shop(request: pytest.FixtureRequest, make_client: Callable[..., TestClient]) -> TestClient:
    if request.param == "sqlite":
        return make_client()
    return make_client(database_url=request.getfixturevalue("postgres_url"))


def test_the_funnel_counts_what_happened(shop: TestClient) -> None:
    client = shop
    headers = editor(client)
    station = make_campaign(client, headers, name="駅前", code="station")["code"]
    onsen = make_campaign(client, headers, name="温泉")["code"]
    elsewhere = TestClient(client.app, client=("203.0.113.20", 1))

    # Scans: the station poster by one phone twice, another phone, a crawler; the onsen poster
    # by the first phone (one person, two posters) and a phone elsewhere.
    carried = code_from_scan(client, station, IPHONE)
    code_from_scan(client, station, IPHONE)
    code_from_scan(client, station, ANDROID)
    code_from_scan(client, station, GOOGLEBOT)
    code_from_scan(client, onsen, IPHONE)
    code_from_scan(elsewhere, onsen, ANDROID)
    assert carried == station

    # Orders: the station's two paid (one refunded after minting) and one left unpaid; the
    # onsen's one paid; two without a campaign (one paid, one with a code nobody made).
    kept = order(client, "a@example.jp", 2, station)
    refunded = order(client, "b@example.jp", 1, station)
    order(client, "c@example.jp", 1, station)
    onsen_paid = order(client, "d@example.jp", 1, onsen)
    direct = order(client, "e@example.jp", 1)
    order(client, "f@example.jp", 1, "nosuchcode")
    paid = [kept, refunded, onsen_paid, direct]
    for created in paid:
        pay(client, created)
    runtime_of(client).start_worker()
    for created in paid:
        await_minted(client, created)
    refund(client, refunded)

    funnel = client.get(f"{TOWN}/funnel", headers=headers).json()

    rows = {row["code"]: row for row in funnel["items"]}
    price = 1000
    #                                scans unique bots orders paid minted refunded revenue
    assert figures(rows[station]) == (4, 2, 1, 3, 2, 2, 1, 2 * price)
    assert figures(rows[onsen]) == (2, 2, 0, 1, 1, 1, 0, price)
    # In all: the phone that scanned both posters is one visitor (3 people, not 4).
    assert figures(funnel["all"]) == (6, 3, 1, 4, 3, 3, 1, 3 * price)
    assert figures(funnel["without_campaign"]) == (0, 0, 0, 2, 1, 1, 0, price)
    assert funnel["total"] == 2
    assert [row["code"] for row in funnel["items"]] == [onsen, station]  # newest first
    # The campaigns list and a campaign's own page give the same figures.
    listed = {item["code"]: item for item in client.get(f"{TOWN}/campaigns", headers=headers).json()["items"]}
    assert figures(listed[station]) == figures(rows[station])
    assert figures(client.get(f"{TOWN}/campaigns/{onsen}", headers=headers).json()) == figures(rows[onsen])
    # One drop's funnel (the demo town has one drop), and paging.
    assert client.get(f"{TOWN}/funnel", params={"drop_id": 1}, headers=headers).json()["all"] == funnel["all"]
    empty = client.get(f"{TOWN}/funnel", params={"drop_id": 999}, headers=headers).json()
    assert (empty["total"], figures(empty["all"])) == (0, (0,) * 8)
    second = client.get(f"{TOWN}/funnel", params={"limit": 1, "offset": 1}, headers=headers).json()
    assert [row["code"] for row in second["items"]] == [station]
    assert second["all"] == funnel["all"]
