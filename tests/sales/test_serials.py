"""Serial numbers stay inside the drop's series: wallet orders that run out unredeemed give
their stock, per-buyer counts and numbers back (reused lowest first), numbering never passes
the drop's last id, and a late payment still respects the per-buyer limit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from backend.core.db import session_scope
from backend.payments.models import Payment
from backend.runtime import Runtime, build_indexer
from backend.sales.models import BuyerCount, Drop, DropSerial, FreeSerial, Order, OrderCard
from backend.sales.orders import (
    PaymentResult,
    apply_payment,
    refresh,
    settle_wallet_orders,
    wallet_orders_due,
)
from backend.sales.stock import SerialsExhausted, free_serials, take_serials
from backend.sales.sweeper import OrderSweeper, orders_to_settle
from minting.compiler import compile_contracts
from minting.resident_card import ResidentCardClient
from minting.store import MintJobRow
from tests.sales.conftest import bearer, order_body, redeem, runtime_of

pytestmark = pytest.mark.chain

DROP_ID = 1
WALLET_EMAIL = "wallet-buyer@example.jp"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """The test's database: SQLite (""), then a throw-away PostgreSQL one."""
    return str(request.getfixturevalue("postgres_url")) if request.param == "postgres" else ""


# ── helpers ─────────────────────────────────────────────────────────────────


def _buyer_address(client: TestClient, index: int = 5) -> str:
    return runtime_of(client).chain.dev_accounts()[index].address


def _wallet_order(client: TestClient, wallet: str, quantity: int, email: str = WALLET_EMAIL) -> dict[str, Any]:
    body = order_body(quantity=quantity, email=email, payment_method="wallet", wallet_address=wallet)
    response = client.post("/api/v1/orders", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _voucher_ids(created: dict[str, Any]) -> list[int]:
    return [int(voucher["token_id"]) for voucher in created["vouchers"]]


def _order(client: TestClient, quantity: int, email: str, **fields: Any) -> dict[str, Any]:
    response = client.post("/api/v1/orders", json=order_body(quantity=quantity, email=email, **fields))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _paid_demo_order(client: TestClient, quantity: int, email: str) -> list[int]:
    created = _order(client, quantity, email)
    paid = client.post(f"/api/v1/orders/{created['order_id']}/demo-pay", headers=bearer(created))
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "paid"
    token_ids: list[int] = paid.json()["token_ids"]
    return token_ids


def _public(client: TestClient, created: dict[str, Any]) -> dict[str, Any]:
    response = client.get(f"/api/v1/orders/{created['order_id']}", headers=bearer(created))
    assert response.status_code == 200, response.text
    public: dict[str, Any] = response.json()
    return public


def _sold_out(client: TestClient, email: str) -> None:
    response = client.post("/api/v1/orders", json=order_body(email=email))
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "sold_out"


def _next_serial(session: Session) -> int:
    return int(session.scalar(select(DropSerial.next_serial).where(DropSerial.drop_id == DROP_ID)) or 0)


def _stock(client: TestClient) -> dict[str, Any]:
    """The drop's stock, numbering and per-buyer counts as the database holds them."""
    with runtime_of(client).sessions() as session:
        return {
            "reserved": session.scalar(select(Drop.reserved).where(Drop.id == DROP_ID)),
            "next_serial": _next_serial(session),
            "free": list(session.scalars(select(FreeSerial.token_id).order_by(FreeSerial.token_id))),
            "counts": {buyer: count for buyer, count in session.execute(select(BuyerCount.buyer, BuyerCount.count))},
        }


def _cards_of(client: TestClient, order_id: str) -> list[int]:
    with runtime_of(client).sessions() as session:
        return list(
            session.scalars(
                select(OrderCard.token_id).where(OrderCard.order_id == order_id).order_by(OrderCard.token_id)
            )
        )


def _all_cards(client: TestClient) -> list[int]:
    with runtime_of(client).sessions() as session:
        return sorted(int(token_id) for token_id in session.scalars(select(OrderCard.token_id)))


def _pass_deadline(runtime: Runtime, *created: dict[str, Any]) -> int:
    """Mine a block just after the latest voucher deadline of `created`; returns its time."""
    deadline = max(int(voucher["deadline"]) for order in created for voucher in order["vouchers"])
    latest = int(runtime.chain.w3.eth.get_block("latest")["timestamp"])
    chain_time = runtime.chain.advance_time(deadline + 1 - latest)
    assert chain_time > deadline
    return chain_time


def _redeem(runtime: Runtime, signed: dict[str, Any], buyer_index: int = 5) -> str:
    """The buyer's wallet redeems one voucher on chain (pays and gets the card); the tx hash."""
    buyer = runtime.chain.dev_accounts()[buyer_index]
    card = ResidentCardClient.at(runtime.chain.w3, compile_contracts()["ResidentCard"], signed["contract"], buyer)
    receipt = redeem(card, signed)
    assert receipt["status"] == 1
    return str(receipt["transactionHash"].to_0x_hex())


def _expire_by_clock(client: TestClient, created: dict[str, Any]) -> None:
    """Move the order's deadline into the past; reading it then expires it."""
    with runtime_of(client).sessions() as session:
        session.execute(
            update(Order)
            .where(Order.id == created["order_id"])
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
        session.commit()
    assert _public(client, created)["status"] == "expired"


def _late_card_payment(client: TestClient, order_id: str) -> PaymentResult:
    with runtime_of(client).sessions() as session:
        order = session.get(Order, order_id)
        assert order is not None
        result = apply_payment(
            session, order, provider="card", provider_ref="pi_late", amount_jpy=order.amount_jpy, now=datetime.now(UTC)
        )
        session.commit()
    return result


def _order_row(client: TestClient, order_id: str) -> tuple[str, str | None, int, int]:
    with runtime_of(client).sessions() as session:
        order = session.get(Order, order_id)
        assert order is not None
        return order.status, order.failure, order.quantity, order.amount_jpy


def _jobs_of(client: TestClient, order_id: str) -> list[int]:
    with runtime_of(client).sessions() as session:
        return sorted(
            int(token_id)
            for token_id in session.scalars(
                select(MintJobRow.token_id).where(MintJobRow.order_ref.startswith(f"{order_id}:"))
            )
        )


def _payments_of(client: TestClient, order_id: str) -> list[tuple[str, str, str]]:
    with runtime_of(client).sessions() as session:
        return [
            (provider, ref, status)
            for provider, ref, status in session.execute(
                select(Payment.provider, Payment.provider_ref, Payment.status).where(Payment.order_id == order_id)
            )
        ]


def _settle(client: TestClient, how: str) -> None:
    """One sweeper round for wallet orders: `sweeper` runs `OrderSweeper.sweep()`; `functions`
    runs its wallet stages by hand (due by the chain's clock, bought = cards that exist on
    chain, settle, then refresh what `orders_to_settle` lists)."""
    runtime = runtime_of(client)
    if how == "sweeper":
        OrderSweeper(runtime.sessions, runtime.chain).sweep()
        return
    chain_time = int(runtime.chain.w3.eth.get_block("latest")["timestamp"])
    card = ResidentCardClient.at(runtime.chain.w3, compile_contracts()["ResidentCard"], runtime.card_contract)
    with runtime.sessions() as session:
        due = wallet_orders_due(session, chain_time)
    bought = {order_id: {token_id for token_id in ids if card.exists(token_id)} for order_id, ids in due.items()}
    with session_scope(runtime.sessions) as session:
        settle_wallet_orders(session, bought)
    with session_scope(runtime.sessions) as session:
        for order in session.scalars(select(Order).where(Order.id.in_(orders_to_settle(session)))).all():
            refresh(session, order, datetime.now(UTC))


def _client_on(
    make_client: Callable[..., TestClient], request: pytest.FixtureRequest, database: str, **settings: Any
) -> TestClient:
    url = str(request.getfixturevalue("postgres_url")) if database == "postgres" else ""
    return make_client(database_url=url, **settings)


#: (database, how wallet orders are settled): the sweeper itself, and its stages by hand.
SETTLE_PARAMS = [
    pytest.param("sqlite", "functions", id="sqlite-functions"),
    pytest.param("sqlite", "sweeper", id="sqlite-sweeper"),
    pytest.param("postgres", "functions", id="postgres-functions", marks=pytest.mark.postgres),
]


def _keys(email: str, wallet: str | None = None) -> list[str]:
    return [f"email:{email}"] + ([f"wallet:{wallet.lower()}"] if wallet else [])


def test_advance_time_mines_a_block_at_the_time_it_returns(make_client: Callable[..., TestClient]) -> None:
    """`Chain.advance_time` says it mines a block `seconds` after the latest and returns its
    time. On eth-tester, `time_travel(t)` mines the block at t - 1, so both are one second off."""
    chain = runtime_of(make_client()).chain
    latest = int(chain.w3.eth.get_block("latest")["timestamp"])

    returned = chain.advance_time(100)

    mined = int(chain.w3.eth.get_block("latest")["timestamp"])
    assert (returned, mined) == (latest + 100, latest + 100)


# ── 1. unredeemed wallet orders give everything back ────────────────────────


@pytest.mark.parametrize(("database", "settle"), SETTLE_PARAMS)
def test_expired_wallet_orders_give_stock_counts_and_numbers_back_and_the_numbers_are_reused_first(
    make_client: Callable[..., TestClient], request: pytest.FixtureRequest, database: str, settle: str
) -> None:
    client = _client_on(make_client, request, database, demo_supply=3)
    runtime = runtime_of(client)
    wallet = _buyer_address(client)
    first = _wallet_order(client, wallet, 2)
    second = _wallet_order(client, wallet, 1)
    assert (_voucher_ids(first), _voucher_ids(second)) == ([1, 2], [3])
    held = {"reserved": 3, "next_serial": 4, "free": [], "counts": dict.fromkeys(_keys(WALLET_EMAIL, wallet), 3)}
    assert _stock(client) == held
    _sold_out(client, "early@example.jp")

    _settle(client, settle)  # the vouchers can still be redeemed: nothing moves
    assert _stock(client) == held
    assert {_public(client, order)["status"] for order in (first, second)} == {"pending_payment"}

    _pass_deadline(runtime, first, second)
    _settle(client, settle)

    for order in (first, second):
        public = _public(client, order)
        assert (public["status"], public["token_ids"], public["vouchers"]) == ("expired", [], None)
    assert _stock(client) == {
        "reserved": 0,
        "next_serial": 4,
        "free": [1, 2, 3],
        "counts": dict.fromkeys(_keys(WALLET_EMAIL, wallet), 0),
    }

    # The returned numbers are handed out, lowest first, before any new number; then the
    # drop is sold out, and no card was ever numbered outside 1…3.
    assert _paid_demo_order(client, 1, "fan1@example.jp") == [1]
    assert _paid_demo_order(client, 2, "fan2@example.jp") == [2, 3]
    _sold_out(client, "fan3@example.jp")
    after = _stock(client)
    assert (after["reserved"], after["next_serial"], after["free"]) == (3, 4, [])
    assert _all_cards(client) == [1, 2, 3]


def test_a_returned_number_is_reused_before_new_numbers_are_taken(make_client: Callable[..., TestClient]) -> None:
    client = make_client(demo_supply=3)
    runtime = runtime_of(client)
    wallet_order = _wallet_order(client, _buyer_address(client), 1)
    assert _voucher_ids(wallet_order) == [1]
    assert _paid_demo_order(client, 1, "early@example.jp") == [2]

    _pass_deadline(runtime, wallet_order)
    _settle(client, "functions")
    assert _stock(client)["free"] == [1]

    assert _paid_demo_order(client, 2, "late@example.jp") == [1, 3]
    assert _all_cards(client) == [1, 2, 3]
    assert _stock(client)["next_serial"] == 4


def test_wallet_orders_are_due_only_once_the_chain_clock_is_past_the_voucher_deadline(
    make_client: Callable[..., TestClient],
) -> None:
    """The contract accepts a voucher while block.timestamp <= deadline: at that very second
    the order is not due; one second later it is, and settling it twice releases once."""
    client = make_client()
    wallet = _buyer_address(client)
    created = _wallet_order(client, wallet, 2)
    deadline = int(created["vouchers"][0]["deadline"])

    with runtime_of(client).sessions() as session:
        assert wallet_orders_due(session, deadline) == {}
        assert wallet_orders_due(session, deadline + 1) == {created["order_id"]: [1, 2]}
        assert settle_wallet_orders(session, {created["order_id"]: set()}) == 1
        session.commit()
    with runtime_of(client).sessions() as session:
        assert wallet_orders_due(session, deadline + 1) == {}
        assert settle_wallet_orders(session, {created["order_id"]: set()}) == 0
        session.commit()

    assert _public(client, created)["status"] == "expired"
    assert _stock(client) == {
        "reserved": 0,
        "next_serial": 3,
        "free": [1, 2],
        "counts": dict.fromkeys(_keys(WALLET_EMAIL, wallet), 0),
    }


# ── 2. numbering never passes the drop's last serial ────────────────────────


def test_take_serials_raises_serials_exhausted_past_the_end_and_keeps_next_serial(
    make_client: Callable[..., TestClient], database_url: str
) -> None:
    client = make_client(database_url=database_url, demo_supply=3)
    with runtime_of(client).sessions() as session:
        drop = session.get(Drop, DROP_ID)
        serial = session.get(DropSerial, DROP_ID)
        assert drop is not None
        assert serial is not None
        assert drop.first_token_id is not None
        assert serial.end_serial == drop.first_token_id + drop.supply == 4

        assert take_serials(session, DROP_ID, 2) == [1, 2]
        with pytest.raises(SerialsExhausted):
            take_serials(session, DROP_ID, 2)
        assert _next_serial(session) == 3
        assert take_serials(session, DROP_ID, 1) == [3]
        with pytest.raises(SerialsExhausted):
            take_serials(session, DROP_ID, 1)
        assert _next_serial(session) == 4
        session.rollback()


def test_take_serials_hands_out_returned_numbers_lowest_first_then_new_ones_up_to_the_end(
    make_client: Callable[..., TestClient], database_url: str
) -> None:
    client = make_client(database_url=database_url, demo_supply=4)
    with runtime_of(client).sessions() as session:
        assert take_serials(session, DROP_ID, 3) == [1, 2, 3]
        free_serials(session, DROP_ID, [3, 1])

        assert take_serials(session, DROP_ID, 1) == [1]
        assert take_serials(session, DROP_ID, 2) == [3, 4]
        assert session.scalar(select(func.count()).select_from(FreeSerial)) == 0
        with pytest.raises(SerialsExhausted):
            take_serials(session, DROP_ID, 1)
        assert _next_serial(session) == 5
        session.commit()
    assert _stock(client)["next_serial"] == 5


# ── 3. a partly redeemed wallet order keeps what was bought ─────────────────


@pytest.mark.parametrize(("database", "settle"), SETTLE_PARAMS)
def test_a_partly_redeemed_wallet_order_keeps_the_bought_card_and_ends_minted_with_it(
    make_client: Callable[..., TestClient], request: pytest.FixtureRequest, database: str, settle: str
) -> None:
    client = _client_on(make_client, request, database, demo_supply=3)
    runtime = runtime_of(client)
    wallet = _buyer_address(client)
    created = _wallet_order(client, wallet, 2)
    assert (_voucher_ids(created), created["amount_jpy"]) == ([1, 2], 2000)
    tx_hash = _redeem(runtime, created["vouchers"][0])

    _pass_deadline(runtime, created)
    _settle(client, settle)

    assert _order_row(client, created["order_id"]) == ("pending_payment", None, 1, 1000)
    assert _cards_of(client, created["order_id"]) == [1]
    assert _stock(client) == {
        "reserved": 1,
        "next_serial": 3,
        "free": [2],
        "counts": dict.fromkeys(_keys(WALLET_EMAIL, wallet), 1),
    }

    build_indexer(runtime.sessions, runtime.chain, runtime.manifest).indexer.catch_up()
    _settle(client, settle)

    assert _order_row(client, created["order_id"]) == ("minted", None, 1, 1000)
    public = _public(client, created)
    assert (public["status"], public["token_ids"], public["owner"], public["tx_hash"]) == (
        "minted",
        [1],
        wallet,
        tx_hash,
    )
    assert _stock(client)["counts"] == dict.fromkeys(_keys(WALLET_EMAIL, wallet), 1)
    # The unbought number goes to the next paid order.
    assert _paid_demo_order(client, 1, "next@example.jp") == [2]


# ── 4. a late payment respects the per-buyer limit ──────────────────────────


@pytest.mark.parametrize("again_by", ["same_email", "same_wallet_other_email"])
def test_a_late_payment_after_the_buyer_ordered_again_fails_with_the_limit_and_changes_nothing(
    make_client: Callable[..., TestClient], database_url: str, again_by: str
) -> None:
    """With `same_wallet_other_email` the late order's email is counted before its wallet
    is refused: that count must be rolled back with the rest."""
    client = make_client(database_url=database_url)
    wallet = _buyer_address(client)
    email = "limit@example.jp"
    late = _order(client, 5, email, wallet_address=wallet)
    _expire_by_clock(client, late)
    released = _stock(client)
    assert (released["reserved"], set(released["counts"].values())) == (0, {0})

    again_email = email if again_by == "same_email" else "other@example.jp"
    _order(client, 5, again_email, wallet_address=wallet)
    before = _stock(client)
    assert before["reserved"] == 5
    assert before["counts"][f"wallet:{wallet.lower()}"] == before["counts"][f"email:{again_email}"] == 5

    assert _late_card_payment(client, late["order_id"]) is PaymentResult.LATE

    assert _order_row(client, late["order_id"])[:2] == ("failed", "paid_after_expiry_limit_exceeded")
    assert _stock(client) == before
    assert _cards_of(client, late["order_id"]) == []
    assert _jobs_of(client, late["order_id"]) == []
    assert _payments_of(client, late["order_id"]) == [("card", "pi_late", "succeeded")]  # recorded: refund due


def test_a_late_payment_when_the_cards_were_sold_meanwhile_fails_sold_out_and_gives_the_count_back(
    make_client: Callable[..., TestClient], database_url: str
) -> None:
    client = make_client(database_url=database_url, demo_supply=5)
    late = _order(client, 5, "slow@example.jp")
    _expire_by_clock(client, late)
    _order(client, 5, "fast@example.jp")
    before = _stock(client)
    assert before["counts"] == {"email:slow@example.jp": 0, "email:fast@example.jp": 5}

    assert _late_card_payment(client, late["order_id"]) is PaymentResult.LATE

    assert _order_row(client, late["order_id"])[:2] == ("failed", "paid_after_expiry_sold_out")
    assert _stock(client) == before
    assert _cards_of(client, late["order_id"]) == [] == _jobs_of(client, late["order_id"])


def test_a_late_payment_within_the_limit_and_stock_is_honoured_and_numbered(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(demo_supply=3)
    late = _order(client, 2, "patient@example.jp")
    _expire_by_clock(client, late)

    assert _late_card_payment(client, late["order_id"]) is PaymentResult.APPLIED

    assert _order_row(client, late["order_id"])[:2] == ("paid", None)
    assert _cards_of(client, late["order_id"]) == [1, 2] == _jobs_of(client, late["order_id"])
    after = _stock(client)
    assert (after["reserved"], after["next_serial"], after["counts"]) == (2, 3, {"email:patient@example.jp": 2})


def test_the_sweeper_finds_the_order_that_moved_among_many_that_did_not(
    make_client: Callable[..., TestClient],
) -> None:
    """Orders whose jobs wait (no worker here) must not crowd out one whose job failed."""
    client = make_client(mint_worker=False)
    orders = []
    for index in range(4):
        created = client.post("/api/v1/orders", json=order_body(email=f"wait{index}@example.jp")).json()
        assert client.post(f"/api/v1/orders/{created['order_id']}/demo-pay", headers=bearer(created)).status_code == 200
        orders.append(created["order_id"])
    runtime = runtime_of(client)
    moved = max(orders)  # SQLite groups in id order: the last group a LIMIT 1 would reach
    with session_scope(runtime.sessions) as session:
        session.execute(update(MintJobRow).where(MintJobRow.order_ref.startswith(moved)).values(status="failed"))
    with runtime.sessions() as session:
        assert orders_to_settle(session, limit=1) == [moved]


def test_one_failing_sweeper_step_does_not_stop_the_others(
    make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The node is down: the wallet step fails, and paid orders are still brought up to date."""
    client = make_client(mint_worker=False)
    created = client.post("/api/v1/orders", json=order_body(email="sweep@example.jp")).json()
    assert client.post(f"/api/v1/orders/{created['order_id']}/demo-pay", headers=bearer(created)).status_code == 200
    runtime = runtime_of(client)
    with session_scope(runtime.sessions) as session:
        session.execute(update(MintJobRow).values(status="failed", last_error="mintBatch reverted: test"))

    def node_down(_self: OrderSweeper, _now: datetime) -> None:
        raise ConnectionError("node down")

    monkeypatch.setattr(OrderSweeper, "_settle_wallet_orders", node_down)
    OrderSweeper(runtime.sessions, runtime.chain).sweep()
    with runtime.sessions() as session:
        assert session.get(Order, created["order_id"]).status == "failed"  # type: ignore[union-attr]
    assert "failed: node down" in caplog.text
