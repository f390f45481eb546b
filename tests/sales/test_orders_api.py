"""Orders through the HTTP API: every refusal answers a status and a code and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from web3 import Web3

from backend.core.schemas import MAX_ROW_ID
from backend.sales.models import Order
from minting.store import MintJobRow
from tests.sales.conftest import bearer, order_body, runtime_of, snapshot

pytestmark = pytest.mark.chain


def _refused(client: TestClient, body: dict[str, Any], status: int, code: str, **kwargs: Any) -> dict[str, Any]:
    before = snapshot(client)
    response = client.post("/api/v1/orders", json=body, **kwargs)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert snapshot(client) == before
    error: dict[str, Any] = response.json()["error"]
    return error


def test_drops_list_the_demo_drop_with_its_stock(client: TestClient) -> None:
    page = client.get("/api/v1/drops", params={"municipality": "hoshikawa"}).json()
    (drop,) = page["items"]
    assert (drop["kind"], drop["price_jpy"], drop["supply"], drop["sold"], drop["remaining"]) == (
        "resident_card",
        1000,
        1000,
        0,
        1000,
    )
    assert drop["per_buyer_limit"] == 5
    assert drop["status"] == "on_sale"
    assert drop["contract"] == runtime_of(client).card_contract
    assert client.get("/api/v1/drops", params={"municipality": "elsewhere"}).json()["total"] == 0
    assert client.get("/api/v1/drops/999").json()["error"]["code"] == "drop_not_found"


def test_the_demo_drop_text_says_its_own_supply(make_client: Callable[..., TestClient]) -> None:
    (drop,) = make_client(demo_supply=12_345).get("/api/v1/drops").json()["items"]
    assert drop["supply"] == 12_345
    assert drop["description_en"].startswith("12,345 cards")
    assert drop["description_ja"].startswith("先着12,345枚")


def test_an_order_reserves_stock_and_demo_payment_numbers_the_cards(client: TestClient) -> None:
    created = client.post("/api/v1/orders", json=order_body(quantity=2)).json()
    assert created["status"] == "pending_payment"
    assert created["amount_jpy"] == 2000
    assert client.get("/api/v1/drops/1").json()["remaining"] == 998

    paid = client.post(f"/api/v1/orders/{created['order_id']}/demo-pay", headers=bearer(created))

    assert paid.status_code == 200
    assert paid.json()["status"] == "paid"
    assert paid.json()["token_ids"] == [1, 2]
    with runtime_of(client).sessions() as session:
        jobs = session.execute(select(MintJobRow.order_ref, MintJobRow.token_id, MintJobRow.recipient)).all()
    assert sorted(job.token_id for job in jobs) == [1, 2]
    assert {job.order_ref for job in jobs} == {f"{created['order_id']}:1", f"{created['order_id']}:2"}
    # Paying twice pays once: same numbers, no new jobs.
    again = client.post(f"/api/v1/orders/{created['order_id']}/demo-pay", headers=bearer(created))
    assert again.json()["token_ids"] == [1, 2]
    with runtime_of(client).sessions() as session:
        assert len(session.scalars(select(MintJobRow.id)).all()) == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "not-an-email"),
        ("email", ""),
        ("prefecture", "48"),
        ("prefecture", "6"),
        ("prefecture", "tokyo"),
        ("quantity", 0),
        ("quantity", -1),
        ("quantity", "two"),
        ("wallet_address", "0x123"),
        ("wallet_address", "0xAbCdEf0000000000000000000000000000000000"),  # mixed case, bad checksum
        ("wallet_address", "0x" + "0" * 40),  # minting to it would revert the whole batch
        ("payment_method", "cash"),
        ("drop_id", 0),
        ("drop_id", 2**31),  # no drop can have it: refused before the database, not a driver overflow
        ("drop_id", 10**23),
        ("campaign_code", "<script>"),
    ],
)
def test_bad_input_is_422_with_the_field_named(client: TestClient, field: str, value: object) -> None:
    error = _refused(client, order_body(**{field: value}), 422, "invalid_request")
    assert field in error["message"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/orders", '{"drop_id": 1, "quantity": 1, "extra": NaN}'),
        ("/api/v1/orders", '{"drop_id": 1e400, "quantity": -Infinity}'),
        ("/api/v1/orders", '{"drop_id": 1, "email": "\\ud800"}'),
        ("/api/v1/holders/sign-in", '{"email": "\\ud800@example.jp"}'),
    ],
)
def test_values_json_cannot_echo_are_still_a_422(client: TestClient, path: str, body: str) -> None:
    """The rejected input is not echoed back: a lone surrogate or NaN cannot be written as JSON."""
    response = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"
    assert all("input" not in problem for problem in response.json()["detail"])


@pytest.mark.parametrize("owned", ["status", "price_jpy", "amount_jpy", "token_ids", "order_id", "recipient"])
def test_fields_the_server_owns_are_refused(client: TestClient, owned: str) -> None:
    _refused(client, order_body(**{owned: "x"}), 422, "invalid_request")


def test_lower_upper_case_and_checksummed_addresses_are_all_accepted(client: TestClient) -> None:
    address = "0x" + "ab" * 20
    for spelling in (address, "0x" + "AB" * 20, Web3.to_checksum_address(address)):
        response = client.post("/api/v1/orders", json=order_body(payment_method="wallet", wallet_address=spelling))
        assert response.status_code == 201, response.text
        assert response.json()["voucher"]["buyer"] == "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"


def test_unknown_drop_unoffered_method_and_missing_wallet(client: TestClient) -> None:
    _refused(client, order_body(drop_id=42), 404, "drop_not_found")
    _refused(client, order_body(payment_method="wallet"), 400, "wallet_address_required")
    _refused(client, order_body(payment_method="card"), 400, "payment_method_unavailable")


def test_per_buyer_limit_counts_email_and_wallet_across_orders(client: TestClient) -> None:
    _refused(client, order_body(quantity=6), 409, "limit_exceeded")
    assert client.post("/api/v1/orders", json=order_body(quantity=3)).status_code == 201
    _refused(client, order_body(quantity=3, email="SUPPORTER@example.jp"), 409, "limit_exceeded")
    wallet = "0x" + "cd" * 20
    for index in range(5):
        body = order_body(email=f"other{index}@example.jp", payment_method="wallet", wallet_address=wallet)
        assert client.post("/api/v1/orders", json=body).status_code == 201
    body = order_body(email="sixth@example.jp", payment_method="wallet", wallet_address=wallet)
    _refused(client, body, 409, "limit_exceeded")


def test_sold_out_is_409_and_takes_nothing(make_client: Callable[..., TestClient]) -> None:
    client = make_client(demo_supply=3)
    assert client.post("/api/v1/orders", json=order_body(quantity=3)).status_code == 201
    _refused(client, order_body(email="late@example.jp"), 409, "sold_out")
    assert client.get("/api/v1/drops/1").json()["status"] == "sold_out"


def test_idempotency_key_replays_the_first_answer_and_refuses_another_body(client: TestClient) -> None:
    headers = {"Idempotency-Key": "checkout-7f3a"}
    first = client.post("/api/v1/orders", json=order_body(), headers=headers)
    again = client.post("/api/v1/orders", json=order_body(), headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert client.get("/api/v1/drops/1").json()["remaining"] == 999
    _refused(client, order_body(quantity=2), 409, "idempotency_key_reused", headers=headers)


def test_a_wrong_or_missing_order_token_is_404_like_an_unknown_order(client: TestClient) -> None:
    created = client.post("/api/v1/orders", json=order_body()).json()
    order_url = f"/api/v1/orders/{created['order_id']}"
    answers = [
        client.get(order_url),
        client.get(order_url, headers={"Authorization": "Bearer wrong"}),
        client.get(order_url, headers={"Authorization": created["order_token"]}),  # not "Bearer …"
        client.get("/api/v1/orders/ord_nope", headers=bearer(created)),
        client.post(f"{order_url}/demo-pay", headers={"Authorization": "Bearer wrong"}),
    ]
    assert {(answer.status_code, answer.json()["error"]["code"]) for answer in answers} == {(404, "order_not_found")}
    assert client.get(order_url, headers=bearer(created)).json()["status"] == "pending_payment"


def test_demo_pay_is_404_when_demo_payments_are_off(make_client: Callable[..., TestClient]) -> None:
    client = make_client(demo_mode=False, secret_key="s" * 40)
    response = client.post("/api/v1/orders/ord_x/demo-pay", headers={"Authorization": "Bearer x"})
    assert response.status_code == 404
    _refused(client, order_body(), 404, "drop_not_found")  # nothing seeded outside demo mode


def test_an_unpaid_order_expires_and_gives_its_stock_back(client: TestClient) -> None:
    created = client.post("/api/v1/orders", json=order_body(quantity=5)).json()
    assert client.get("/api/v1/drops/1").json()["remaining"] == 995
    with runtime_of(client).sessions() as session:
        session.execute(
            update(Order).where(Order.id == created["order_id"]).values(expires_at=datetime.now(UTC) - timedelta(1))
        )
        session.commit()

    paying = client.post(f"/api/v1/orders/{created['order_id']}/demo-pay", headers=bearer(created))

    assert paying.status_code == 409
    assert paying.json()["error"]["code"] == "order_expired"
    assert client.get(f"/api/v1/orders/{created['order_id']}", headers=bearer(created)).json()["status"] == "expired"
    assert client.get("/api/v1/drops/1").json()["remaining"] == 1000
    # The buyer's count came back too: five more cards for the same email are fine.
    assert client.post("/api/v1/orders", json=order_body(quantity=5)).status_code == 201


def test_expired_reservations_are_reclaimed_when_stock_runs_out(make_client: Callable[..., TestClient]) -> None:
    client = make_client(demo_supply=2)
    stale = client.post("/api/v1/orders", json=order_body(quantity=2)).json()
    with runtime_of(client).sessions() as session:
        session.execute(
            update(Order).where(Order.id == stale["order_id"]).values(expires_at=datetime.now(UTC) - timedelta(1))
        )
        session.commit()

    fresh = client.post("/api/v1/orders", json=order_body(email="next@example.jp", quantity=2))

    assert fresh.status_code == 201
    assert client.get(f"/api/v1/orders/{stale['order_id']}", headers=bearer(stale)).json()["status"] == "expired"


def test_a_demo_order_cannot_be_paid_by_a_card_order_route_mixup(client: TestClient) -> None:
    wallet = client.post(
        "/api/v1/orders", json=order_body(payment_method="wallet", wallet_address="0x" + "ef" * 20)
    ).json()
    response = client.post(f"/api/v1/orders/{wallet['order_id']}/demo-pay", headers=bearer(wallet))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "wrong_payment_method"


@pytest.mark.postgres
def test_per_buyer_limit_holds_on_postgresql(make_client: Callable[..., TestClient], postgres_url: str) -> None:
    client = make_client(database_url=postgres_url)
    assert client.post("/api/v1/orders", json=order_body(quantity=4)).status_code == 201
    _refused(client, order_body(quantity=2), 409, "limit_exceeded")
    assert client.post("/api/v1/orders", json=order_body(quantity=1)).status_code == 201
    _refused(client, order_body(quantity=1), 409, "limit_exceeded")


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_ids_and_offsets_at_the_column_limits_are_answered_not_overflowed(
    make_client: Callable[..., TestClient], request: pytest.FixtureRequest, database: str
) -> None:
    """The largest accepted numbers reach the database and find nothing; one more is a 422."""
    if database == "postgres":
        client = make_client(database_url=request.getfixturevalue("postgres_url"))
    else:
        client = make_client()
    _refused(client, order_body(drop_id=MAX_ROW_ID), 404, "drop_not_found")
    assert client.get(f"/api/v1/drops/{MAX_ROW_ID}").json()["error"]["code"] == "drop_not_found"
    assert client.get(f"/api/v1/drops/{MAX_ROW_ID + 1}").status_code == 422
    last_page = client.get(f"/api/v1/drops?offset={MAX_ROW_ID}")
    assert (last_page.status_code, last_page.json()["items"]) == (200, [])
    for impossible_id in ("ord_%00x", "ord_" + "x" * 100, "x"):  # NUL: PostgreSQL refuses it in text
        response = client.get(f"/api/v1/orders/{impossible_id}", headers={"Authorization": "Bearer x"})
        assert (response.status_code, response.json()["error"]["code"]) == (404, "order_not_found")
    too_far = client.get(f"/api/v1/drops?offset={MAX_ROW_ID + 1}")
    assert (too_far.status_code, too_far.json()["error"]["code"]) == (422, "invalid_request")


def test_drops_offer_only_the_methods_this_deployment_can_take(client: TestClient) -> None:
    assert client.get("/api/v1/drops/1").json()["payment_methods"] == ["demo", "wallet"]  # no card provider here


def test_orders_from_one_address_are_rate_limited(make_client: Callable[..., TestClient]) -> None:
    client = make_client(order_rate_per_minute=3)
    answers = [client.post("/api/v1/orders", json=order_body(email=f"bot{i}@example.jp")) for i in range(3)]
    assert [answer.status_code for answer in answers] == [201, 201, 201]
    _refused(client, order_body(email="bot4@example.jp"), 429, "rate_limited")


def test_a_short_reservation_time_expires_by_itself(make_client: Callable[..., TestClient]) -> None:
    client = make_client(order_ttl_seconds=1)
    created = client.post("/api/v1/orders", json=order_body(quantity=2)).json()
    order_url = f"/api/v1/orders/{created['order_id']}"
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while client.get(order_url, headers=bearer(created)).json()["status"] != "expired":
        assert datetime.now(UTC) < deadline, "the order never expired"
    assert client.get("/api/v1/drops/1").json()["remaining"] == 1000
