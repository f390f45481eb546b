"""Staff orders over HTTP (eth-tester, SQLite): the list and its filters, an order's page,
another town's orders, roles, and the home page's figures in Japan time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from backend.core.db import session_scope
from backend.sales.models import Drop, Order
from backend.sales.order_search import JST
from tests.factories import add_plain_drop, add_town, await_minted, bulk_orders, staff_headers
from tests.sales.conftest import bearer, order_body, runtime_of

pytestmark = pytest.mark.chain

TOWN = "/api/v1/staff/towns/hoshikawa"


def _order(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post("/api/v1/orders", json=order_body(**body))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _paid(client: TestClient, **body: Any) -> dict[str, Any]:
    created = _order(client, **body)
    assert client.post(f"/api/v1/orders/{created['order_id']}/demo-pay", headers=bearer(created)).status_code == 200
    return created


def _set(client: TestClient, order_id: str, **values: Any) -> None:
    with session_scope(runtime_of(client).sessions) as session:
        session.execute(update(Order).where(Order.id == order_id).values(**values))


def _owner(client: TestClient) -> dict[str, str]:
    return staff_headers(runtime_of(client).sessions, "hoshikawa", "owner")


def _ids(client: TestClient, headers: dict[str, str], **params: Any) -> list[str]:
    response = client.get(f"{TOWN}/orders", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [item["order_id"] for item in response.json()["items"]]


def test_orders_are_listed_newest_first_with_their_cards(client: TestClient) -> None:
    first = _paid(client, quantity=2, email="Hanako@Example.jp", prefecture="13", campaign_code="station")
    second = _order(client, email="taro@example.jp")

    page = client.get(f"{TOWN}/orders", headers=_owner(client)).json()

    assert (page["total"], page["limit"], page["offset"]) == (2, 20, 0)
    newest, oldest = page["items"]
    assert (newest["order_id"], newest["status"], newest["token_ids"]) == (second["order_id"], "pending_payment", [])
    assert oldest == {
        **oldest,
        "order_id": first["order_id"],
        "status": "paid",
        "drop_id": 1,
        "drop_title_ja": "星川町 デジタル住民票 第1期",
        "quantity": 2,
        "amount_jpy": 2000,
        "payment_method": "demo",
        "email": "hanako@example.jp",
        "prefecture": "13",
        "prefecture_name": "東京都",
        "campaign_code": "station",
        "token_ids": [1, 2],
    }
    assert oldest["paid_at"] is not None


def test_filters_by_status_campaign_drop_and_email_start_case_insensitively(client: TestClient) -> None:
    headers = _owner(client)
    tanaka = _paid(client, email="tanaka@example.jp", campaign_code="station")
    tanaka_h = _order(client, email="Tanaka.H@example.jp")
    sato = _paid(client, email="sato@example.jp", campaign_code="library")
    runtime = runtime_of(client)
    with runtime.sessions() as session:
        town_id = session.get(Drop, 1).municipality_id  # type: ignore[union-attr]
    second_drop = add_plain_drop(runtime.sessions, town_id)
    bulk_orders(runtime.sessions, second_drop, 2, names=("tanaka",))

    assert _ids(client, headers, status="paid") == [sato["order_id"], tanaka["order_id"]]
    assert _ids(client, headers, campaign="station") == [tanaka["order_id"]]
    assert _ids(client, headers, drop_id=1, email="TANAKA") == [tanaka_h["order_id"], tanaka["order_id"]]
    assert _ids(client, headers, email="tanaka.h@example.jp") == [tanaka_h["order_id"]]
    assert set(_ids(client, headers, drop_id=second_drop)) == {"ord_bulk000000000", "ord_bulk000000001"}
    assert _ids(client, headers, status="refunded") == []
    # % and _ are letters here, not wildcards.
    assert _ids(client, headers, email="%") == []
    assert _ids(client, headers, email="tanaka_h") == []


def test_dates_are_whole_days_in_japan_time(client: TestClient) -> None:
    headers = _owner(client)
    late = _order(client, email="late@example.jp")
    early = _order(client, email="early@example.jp")
    _set(client, late["order_id"], created_at=datetime(2026, 11, 30, 14, 59, tzinfo=UTC))  # 11-30 23:59 JST
    _set(client, early["order_id"], created_at=datetime(2026, 11, 30, 15, 0, tzinfo=UTC))  # 12-01 00:00 JST

    assert _ids(client, headers, created_from="2026-12-01") == [early["order_id"]]
    assert _ids(client, headers, created_to="2026-11-30") == [late["order_id"]]
    assert _ids(client, headers, created_from="2026-11-30", created_to="2026-11-30") == [late["order_id"]]
    assert _ids(client, headers, created_from="2026-12-02") == []
    # The calendar's ends are no error (nothing before year 1 or after 9999 to bound by).
    assert len(_ids(client, headers, created_from="0001-01-01", created_to="9999-12-31")) == 2


def test_pages_through_the_orders(client: TestClient) -> None:
    headers = _owner(client)
    made = [_order(client, email=f"p{index}@example.jp")["order_id"] for index in range(5)]

    pages = [
        client.get(f"{TOWN}/orders", params={"limit": 2, "offset": offset}, headers=headers).json()
        for offset in (0, 2, 4)
    ]

    assert [page["total"] for page in pages] == [5, 5, 5]
    assert [item["order_id"] for page in pages for item in page["items"]] == made[::-1]


@pytest.mark.parametrize(
    "params",
    [
        {"status": "shipped"},
        {"drop_id": 0},
        {"drop_id": 2**31},
        {"created_from": "2026-13-01"},
        {"created_to": "0"},  # pydantic alone reads a number as a Unix time
        {"campaign": "no spaces"},
        {"email": "a\u0000b"},
        {"limit": 101},
    ],
)
def test_bad_filters_are_422(client: TestClient, params: dict[str, Any]) -> None:
    response = client.get(f"{TOWN}/orders", params=params, headers=_owner(client))

    assert (response.status_code, response.json()["error"]["code"]) == (422, "invalid_request")


def test_another_towns_order_is_404_and_never_listed(client: TestClient) -> None:
    runtime = runtime_of(client)
    ours = _paid(client)
    add_town(runtime.sessions, "yamakawa")
    theirs = staff_headers(runtime.sessions, "yamakawa", "owner")
    other = "/api/v1/staff/towns/yamakawa"

    assert client.get(f"{other}/orders", headers=theirs).json()["total"] == 0
    for method, path in (("GET", ""), ("POST", "/refund")):
        response = client.request(
            method, f"{other}/orders/{ours['order_id']}{path}", headers=theirs, json={"reason": "x"}
        )
        assert (response.status_code, response.json()["error"]["code"]) == (404, "order_not_found")
    # Their owner is nobody in our town.
    assert client.get(f"{TOWN}/orders/{ours['order_id']}", headers=theirs).status_code == 403
    assert client.get(f"{TOWN}/orders", headers=theirs).status_code == 403
    # An id no order has, and one no order can have.
    mine = _owner(client)
    assert client.get(f"{TOWN}/orders/ord_doesnotexist", headers=mine).status_code == 404
    assert client.get(f"{TOWN}/orders/not-an-order", headers=mine).status_code == 422


@pytest.mark.parametrize(
    ("role", "reads"),
    [("owner", True), ("editor", True), ("analyst", True), ("moderator", False), ("verifier", False)],
)
def test_who_reads_orders(client: TestClient, role: str, reads: bool) -> None:
    created = _paid(client)
    headers = staff_headers(runtime_of(client).sessions, "hoshikawa", role)

    for path in ("/orders", "/orders.csv", f"/orders/{created['order_id']}", "/home"):
        response = client.get(f"{TOWN}{path}", headers=headers)
        assert response.status_code == (200 if reads else 403), (path, response.text)
    assert client.get(f"{TOWN}/orders").status_code == 401


def test_an_orders_page_has_its_payment_cards_chain_transaction_and_history(client: TestClient) -> None:
    runtime = runtime_of(client)
    created = _paid(client, quantity=2)
    runtime.start_worker()
    minted = await_minted(client, created)

    response = client.get(f"{TOWN}/orders/{created['order_id']}", headers=_owner(client))

    assert response.status_code == 200, response.text
    page = response.json()
    assert page["status"] == "minted"
    ((payment),) = page["payments"]
    assert (payment["provider"], payment["status"], payment["amount_jpy"]) == ("demo", "succeeded", 2000)
    assert [(card["token_id"], card["mint_status"], card["revoked_at"]) for card in page["cards"]] == [
        (1, "confirmed", None),
        (2, "confirmed", None),
    ]
    assert {card["owner"] for card in page["cards"]} == {minted["owner"]}
    block = runtime.chain.w3.eth.get_transaction_receipt(minted["tx_hash"])["blockNumber"]
    assert page["chain"] == {
        "chain_id": runtime.chain.chain_id,
        "contract": runtime.card_contract,
        "transactions": [{"tx_hash": minted["tx_hash"], "block_number": block, "token_ids": [1, 2]}],
    }
    assert [entry["event"] for entry in page["history"]] == ["created", "paid", "minted"]
    assert page["refund"] is None


def test_home_counts_today_in_japan_time_and_lists_pending_work(client: TestClient) -> None:
    runtime = runtime_of(client)
    headers = _owner(client)
    now = datetime.now(UTC)
    today_start = datetime.combine(now.astimezone(JST).date(), datetime.min.time(), JST).astimezone(UTC)
    paid = _paid(client, quantity=2)
    yesterday = _paid(client, email="yesterday@example.jp")
    _set(
        client,
        yesterday["order_id"],
        created_at=today_start - timedelta(seconds=1),
        paid_at=today_start - timedelta(seconds=1),
        status="minted",
    )
    stuck = _paid(client, email="stuck@example.jp")
    _set(client, stuck["order_id"], paid_at=now - timedelta(minutes=11))
    stuck_today = int(now - timedelta(minutes=11) >= today_start)
    failed = _paid(client, email="failed@example.jp")
    _set(client, failed["order_id"], status="failed", failure="mint_failed")
    _order(client, email="unpaid@example.jp")
    with runtime.sessions() as session:
        town_id = session.get(Drop, 1).municipality_id  # type: ignore[union-attr]
    add_plain_drop(runtime.sessions, town_id, status="draft")
    add_plain_drop(runtime.sessions, town_id, status="draft", publish_error="node down")
    add_plain_drop(runtime.sessions, town_id, status="publishing")

    home = client.get(f"{TOWN}/home", headers=headers).json()

    assert home["today"] == {
        "date": now.astimezone(JST).date().isoformat(),
        "orders": 4,  # paid, stuck, failed, unpaid (yesterday's was before 00:00 JST)
        # paid, and stuck unless 00:00 JST was under 11 minutes ago (the failed one holds
        # money to give back: not a sale)
        "paid": 1 + stuck_today,
        "revenue_jpy": 2000 + 1000 * stuck_today,
        "refunded": 0,
    }
    assert [(drop["id"], drop["status"], drop["sold"]) for drop in home["live_drops"]] == [(1, "live", 6)]
    pending = home["pending"]
    assert pending["paid_not_minted"] == {"count": 1, "order_ids": [stuck["order_id"]]}
    assert pending["failed"] == {"count": 1, "order_ids": [failed["order_id"]]}
    assert pending["refunds_unconfirmed"] == {"count": 0, "order_ids": []}
    assert (pending["drafts"], pending["publishing"], pending["publish_failed"]) == (2, 1, 1)
    assert paid["order_id"] not in pending["paid_not_minted"]["order_ids"]
