"""The `card` provider end to end: the real stripe library against a local fake Stripe, and
signed webhook deliveries through the API (TestClient, eth-tester chain)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from backend.app import create_app
from backend.core.db import session_scope
from backend.payments import card_events
from backend.payments.models import Payment, WebhookEvent
from backend.runtime import Runtime
from backend.sales import idempotency
from backend.sales.models import IdempotencyRecord, Order
from backend.sales.orders import PaymentResult, apply_payment
from backend.sales.router import IDEMPOTENCY_SCOPE
from backend.sales.sweeper import OrderSweeper
from minting.anvil import free_port
from minting.store import MintJobRow
from tests.payments.conftest import API_KEY, WEBHOOK_SECRET, card_settings
from tests.payments.fake_stripe import FakeStripe, completed, event, refunded_charge, sign, signed_event

pytestmark = pytest.mark.chain


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """The test's database: SQLite (""), then a throw-away PostgreSQL one."""
    return str(request.getfixturevalue("postgres_url")) if request.param == "postgres" else ""


@pytest.fixture
def any_client(tmp_path: Path, fake_stripe: FakeStripe, database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(card_settings(tmp_path, fake_stripe.url, database_url))) as client:
        yield client


def _drop(client: TestClient) -> dict[str, Any]:
    drop: dict[str, Any] = client.get("/api/v1/drops").json()["items"][0]
    return drop


def _order(client: TestClient, quantity: int = 2, email: str = "buyer@example.com") -> Any:
    body = {
        "drop_id": _drop(client)["id"],
        "quantity": quantity,
        "email": email,
        "prefecture": "13",
        "payment_method": "card",
    }
    return client.post("/api/v1/orders", json=body)


def _deliver(client: TestClient, payload: dict[str, Any]) -> Any:
    body, headers = signed_event(payload, WEBHOOK_SECRET)
    return client.post("/api/v1/payments/card/webhook", content=body, headers=headers)


def _state(client: TestClient, order_id: str) -> dict[str, Any]:
    """Counts a webhook must change only when it is genuine."""
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.sessions() as session:
        order = session.get(Order, order_id)
        return {
            "status": order.status,
            "payments": session.scalar(select(func.count()).select_from(Payment)),
            "events": session.scalar(select(func.count()).select_from(WebhookEvent)),
            "jobs": session.scalar(select(func.count()).where(MintJobRow.order_ref.startswith(f"{order_id}:"))),
        }


def _event_states(client: TestClient) -> list[str]:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.sessions() as session:
        return list(session.scalars(select(WebhookEvent.state).order_by(WebhookEvent.received_at)))


def test_card_order_gets_a_stripe_checkout_for_the_amount_in_yen(client: TestClient, fake_stripe: FakeStripe) -> None:
    response = _order(client, quantity=3)

    assert response.status_code == 201, response.text
    created = response.json()
    assert created["checkout_url"].startswith("https://checkout.stripe.com/c/pay/cs_test_")
    (seen,) = fake_stripe.requests
    assert seen.headers["Authorization"] == f"Bearer {API_KEY}"
    assert seen.headers["Idempotency-Key"] == f"checkout-{created['order_id']}"
    form = seen.form
    assert form["mode"] == "payment"
    assert form["line_items[0][price_data][currency]"] == "jpy"
    total = int(form["line_items[0][price_data][unit_amount]"]) * int(form["line_items[0][quantity]"])
    assert total == created["amount_jpy"] == 3 * _drop(client)["price_jpy"]
    assert form["line_items[0][price_data][product_data][name]"] == "星川町 デジタル住民票 第1期"
    assert form["client_reference_id"] == form["metadata[order_id]"] == created["order_id"]
    assert form["success_url"].endswith(f"order.html?id={created['order_id']}&checkout=success")
    assert int(form["expires_at"]) >= time.time() + 30 * 60  # Stripe's minimum
    session = fake_stripe.session_for(created["order_id"])
    assert session["amount_total"] == created["amount_jpy"]
    order = client.get(
        f"/api/v1/orders/{created['order_id']}", headers={"Authorization": f"Bearer {created['order_token']}"}
    ).json()
    assert order["status"] == "pending_payment"
    assert order["checkout_url"] == created["checkout_url"]


def _resigned_compact(payload: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """Signed as Stripe sent it, then re-serialised on the way (other spacing)."""
    _body, headers = signed_event(payload, WEBHOOK_SECRET)
    return json.dumps(payload, separators=(",", ":")), headers


Forgery = Callable[[dict[str, Any]], tuple[str, dict[str, str]]]
FORGERIES: dict[str, Forgery] = {
    "wrong_secret": lambda p: signed_event(p, "whsec_someone_else"),
    "stale_timestamp": lambda p: signed_event(p, WEBHOOK_SECRET, timestamp=int(time.time()) - 301),
    "reserialised_body": _resigned_compact,
    "missing_header": lambda p: (json.dumps(p, indent=2), {"Content-Type": "application/json"}),
    "garbled_header": lambda p: (json.dumps(p, indent=2), {"Stripe-Signature": "t=abc,v1="}),
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_unverified_webhooks_are_refused_and_change_nothing(
    client: TestClient, fake_stripe: FakeStripe, forgery: str
) -> None:
    order_id = _order(client).json()["order_id"]
    before = _state(client, order_id)
    genuine = event("checkout.session.completed", completed(fake_stripe.session_for(order_id)))
    body, headers = FORGERIES[forgery](genuine)

    response = client.post("/api/v1/payments/card/webhook", content=body, headers=headers)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
    assert WEBHOOK_SECRET not in response.text
    assert _state(client, order_id) == before == {"status": "pending_payment", "payments": 0, "events": 0, "jobs": 0}


def test_completed_checkout_pays_numbers_and_queues_the_cards(client: TestClient, fake_stripe: FakeStripe) -> None:
    created = _order(client, quantity=2).json()
    payload = event("checkout.session.completed", completed(fake_stripe.session_for(created["order_id"])))

    response = _deliver(client, payload)

    assert response.status_code == 200
    assert response.json() == {"received": True, "duplicate": False}
    order = client.get(
        f"/api/v1/orders/{created['order_id']}", headers={"Authorization": f"Bearer {created['order_token']}"}
    ).json()
    assert order["status"] == "paid"
    assert len(order["token_ids"]) == 2
    assert _state(client, created["order_id"]) == {"status": "paid", "payments": 1, "events": 1, "jobs": 2}
    assert _event_states(client) == ["applied"]
    # Stripe delivers again (it does): nothing more happens.
    again = _deliver(client, payload)
    assert again.json() == {"received": True, "duplicate": True}
    assert _state(client, created["order_id"]) == {"status": "paid", "payments": 1, "events": 1, "jobs": 2}


def _deliver_in_parallel(client: TestClient, payload: dict[str, Any], copies: int) -> list[Any]:
    body, headers = signed_event(payload, WEBHOOK_SECRET)
    barrier = threading.Barrier(copies)
    responses: list[Any] = [None] * copies

    def deliver(index: int) -> None:
        barrier.wait()
        responses[index] = client.post("/api/v1/payments/card/webhook", content=body, headers=headers)

    threads = [threading.Thread(target=deliver, args=(index,)) for index in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return responses


def _assert_paid_once(client: TestClient, fake_stripe: FakeStripe) -> None:
    order_id = _order(client, quantity=3).json()["order_id"]
    payload = event("checkout.session.completed", completed(fake_stripe.session_for(order_id)))

    responses = _deliver_in_parallel(client, payload, 5)

    assert [response.status_code for response in responses] == [200] * 5
    assert sorted(response.json()["duplicate"] for response in responses) == [False, True, True, True, True]
    assert _state(client, order_id) == {"status": "paid", "payments": 1, "events": 1, "jobs": 3}


def test_the_same_event_five_times_in_parallel_pays_once(client: TestClient, fake_stripe: FakeStripe) -> None:
    _assert_paid_once(client, fake_stripe)


@pytest.mark.postgres
def test_the_same_event_five_times_in_parallel_pays_once_on_postgres(
    tmp_path: Path, fake_stripe: FakeStripe, postgres_url: str
) -> None:
    with TestClient(create_app(card_settings(tmp_path, fake_stripe.url, postgres_url))) as client:
        _assert_paid_once(client, fake_stripe)


@pytest.mark.parametrize("names_order", [False, True], ids=["charge_without_metadata", "charge_with_order_id"])
def test_a_refund_before_its_payment_is_parked_then_applied_with_it(
    client: TestClient, fake_stripe: FakeStripe, names_order: bool
) -> None:
    order_id = _order(client).json()["order_id"]
    session = fake_stripe.session_for(order_id)
    charge = refunded_charge(session)
    if names_order:
        charge["metadata"] = {"order_id": order_id}

    early = _deliver(client, event("charge.refunded", charge))

    assert early.status_code == 200
    assert _event_states(client) == ["parked"]
    assert _state(client, order_id)["status"] == "pending_payment"

    paid = _deliver(client, event("checkout.session.completed", completed(session)))

    assert paid.status_code == 200
    assert _event_states(client) == ["applied", "applied"]
    assert _state(client, order_id) == {"status": "refunded", "payments": 1, "events": 2, "jobs": 2}
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.sessions() as db:
        assert db.scalar(select(Payment.status)) == "refunded"
        assert db.scalar(select(WebhookEvent.order_id).where(WebhookEvent.type == "charge.refunded")) == order_id


def test_an_expired_checkout_gives_the_cards_back(client: TestClient, fake_stripe: FakeStripe) -> None:
    remaining = _drop(client)["remaining"]
    order_id = _order(client, quantity=2).json()["order_id"]
    assert _drop(client)["remaining"] == remaining - 2
    session = {**fake_stripe.session_for(order_id), "status": "expired"}

    assert _deliver(client, event("checkout.session.expired", session)).status_code == 200

    assert _state(client, order_id)["status"] == "expired"
    assert _drop(client)["remaining"] == remaining


def test_unknown_events_are_stored_as_ignored(client: TestClient) -> None:
    response = _deliver(client, event("customer.created", {"id": "cus_123", "object": "customer"}))

    assert response.json() == {"received": True, "duplicate": False}
    assert _event_states(client) == ["ignored"]


def test_an_unreachable_stripe_is_a_502_and_the_cards_go_back(tmp_path: Path) -> None:
    settings = card_settings(tmp_path, f"http://127.0.0.1:{free_port()}")
    with TestClient(create_app(settings)) as client:
        remaining = _drop(client)["remaining"]

        response = _order(client, quantity=2)

        assert response.status_code == 502
        assert response.json()["error"]["code"] == "payment_provider_unavailable"
        assert API_KEY not in response.text
        assert _drop(client)["remaining"] == remaining

        # A retry with the same Idempotency-Key starts afresh, not "still in progress".
        body = {"drop_id": 1, "quantity": 1, "email": "again@example.com", "prefecture": "13", "payment_method": "card"}
        for _ in range(2):
            retried = client.post("/api/v1/orders", json=body, headers={"Idempotency-Key": "retry-me"})
            assert retried.json()["error"]["code"] == "payment_provider_unavailable"
        assert _drop(client)["remaining"] == remaining


def test_a_card_order_abandoned_before_its_checkout_is_finished_by_a_retry(
    client: TestClient, fake_stripe: FakeStripe
) -> None:
    """A crash between the reservation's commit and the checkout leaves the key in progress;
    after a minute a retry with the same key creates the checkout for the same order."""
    body = {"drop_id": 1, "quantity": 1, "email": "crash@example.com", "prefecture": "13", "payment_method": "card"}
    first = client.post("/api/v1/orders", json=body, headers={"Idempotency-Key": "crash-1"}).json()
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with session_scope(runtime.sessions) as db:  # as the crash left it: no checkout, key in progress
        record = db.get(IdempotencyRecord, (IDEMPOTENCY_SCOPE, "crash-1"))
        assert record is not None
        idempotency.remember(
            db,
            runtime.vault,
            IDEMPOTENCY_SCOPE,
            "crash-1",
            record.request_hash,
            idempotency.IN_PROGRESS,
            {**first, "checkout_url": None},
        )
        record.created_at = datetime.now(UTC) - idempotency.STALE_AFTER - timedelta(seconds=1)
        db.execute(update(Order).where(Order.id == first["order_id"]).values(payment_data="{}"))

    again = client.post("/api/v1/orders", json=body, headers={"Idempotency-Key": "crash-1"})

    assert again.status_code == 201, again.text
    assert again.json()["order_id"] == first["order_id"]
    assert again.json()["checkout_url"] == first["checkout_url"]  # Stripe's idempotency: the same session
    assert _state(client, first["order_id"])["status"] == "pending_payment"
    replay = client.post("/api/v1/orders", json=body, headers={"Idempotency-Key": "crash-1"})
    assert (replay.status_code, replay.json()["checkout_url"]) == (201, first["checkout_url"])


def test_signature_helper_matches_the_stripe_library() -> None:
    import stripe

    body = json.dumps({"id": "evt_1"})
    header = sign(body, WEBHOOK_SECRET, 1_700_000_000)
    assert header == stripe.WebhookSignature.generate_signature_header(body, WEBHOOK_SECRET, 1_700_000_000)


def test_no_secret_reaches_the_log(
    client: TestClient, fake_stripe: FakeStripe, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    order_id = _order(client).json()["order_id"]
    _deliver(client, event("checkout.session.completed", completed(fake_stripe.session_for(order_id))))
    fake_stripe.api_key = "sk_test_rotated"  # Stripe now refuses our key: the refusal is logged
    assert _order(client, email="other@example.com").status_code == 502

    assert caplog.records
    assert API_KEY not in caplog.text
    assert WEBHOOK_SECRET not in caplog.text


def _event_rows(client: TestClient) -> list[tuple[str, str | None]]:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.sessions() as session:
        rows = session.execute(select(WebhookEvent.state, WebhookEvent.order_id).order_by(WebhookEvent.received_at))
        return [(state, order_id) for state, order_id in rows]


def test_a_refund_parked_while_its_payment_committed_is_applied_by_the_sweeper(
    any_client: TestClient, fake_stripe: FakeStripe
) -> None:
    client = any_client
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    order_id = _order(client).json()["order_id"]
    checkout = fake_stripe.session_for(order_id)
    assert _deliver(client, event("charge.refunded", refunded_charge(checkout))).status_code == 200
    assert _event_rows(client) == [("parked", None)]
    with session_scope(runtime.sessions) as db:
        assert card_events.apply_parked_refunds(db, datetime.now(UTC)) == 0  # no payment yet: it waits
    assert _event_rows(client) == [("parked", None)]

    # The payment commits as the race leaves it: after the refund was parked, without having
    # seen it (its `_replay_parked` looked before the refund committed).
    with session_scope(runtime.sessions) as db:
        order = db.get(Order, order_id, with_for_update=True)
        assert order is not None
        paid = apply_payment(
            db,
            order,
            provider="card",
            provider_ref=checkout["payment_intent"],
            amount_jpy=order.amount_jpy,
            now=datetime.now(UTC),
        )
    assert paid is PaymentResult.APPLIED
    assert _state(client, order_id)["status"] == "paid"
    assert _event_rows(client) == [("parked", None)]

    OrderSweeper(runtime.sessions, runtime.chain).sweep()

    assert _state(client, order_id) == {"status": "refunded", "payments": 1, "events": 1, "jobs": 2}
    assert _event_rows(client) == [("applied", order_id)]
    with runtime.sessions() as db:
        assert db.scalar(select(Payment.status)) == "refunded"
    # Once applied, it is not applied again.
    with session_scope(runtime.sessions) as db:
        assert card_events.apply_parked_refunds(db, datetime.now(UTC)) == 0
    assert _state(client, order_id) == {"status": "refunded", "payments": 1, "events": 1, "jobs": 2}
    assert _event_rows(client) == [("applied", order_id)]


@pytest.mark.parametrize("bad_id", ["ord_" + "x" * 96, "ord_abc\u0000def"], ids=["100_characters", "nul_byte"])
def test_an_order_id_that_is_not_ours_is_ignored_not_a_database_error(
    any_client: TestClient, fake_stripe: FakeStripe, bad_id: str
) -> None:
    client = any_client
    order_id = _order(client).json()["order_id"]
    checkout = fake_stripe.session_for(order_id)
    before = _state(client, order_id)
    paid = completed({**checkout, "client_reference_id": bad_id, "metadata": {"order_id": bad_id}})
    refund = {**refunded_charge(checkout), "payment_intent": "pi_elsewhere", "metadata": {"order_id": bad_id}}

    responses = [_deliver(client, event("checkout.session.completed", paid))]
    responses.append(_deliver(client, event("charge.refunded", refund)))

    assert [(r.status_code, r.json()) for r in responses] == [(200, {"received": True, "duplicate": False})] * 2
    # The checkout is not ours; the refund waits for a payment of ours that will never come.
    assert _event_rows(client) == [("ignored", None), ("parked", None)]
    assert (
        _state(client, order_id)
        == {**before, "events": 2}
        == {
            "status": "pending_payment",
            "payments": 0,
            "events": 2,
            "jobs": 0,
        }
    )


def test_ids_that_are_not_stripe_ids_are_refused_or_ignored_never_a_database_error(
    any_client: TestClient, fake_stripe: FakeStripe
) -> None:
    client = any_client
    order_id = _order(client).json()["order_id"]
    checkout = fake_stripe.session_for(order_id)
    before = _state(client, order_id)

    too_long = _deliver(client, event("checkout.session.completed", completed(checkout), "evt_" + "x" * 300))
    assert (too_long.status_code, too_long.json()["error"]["code"]) == (400, "invalid_event")
    # A refund naming a PaymentIntent no Stripe id looks like: nothing to look up, parked.
    refund = {**refunded_charge(checkout), "payment_intent": "pi_\u0000" + "x" * 300, "metadata": {}}
    parked = _deliver(client, event("charge.refunded", refund))
    assert (parked.status_code, parked.json()) == (200, {"received": True, "duplicate": False})
    assert _state(client, order_id) == {**before, "events": 1}


def test_a_constraint_failure_that_is_no_race_is_a_500_so_stripe_retries(
    tmp_path: Path, fake_stripe: FakeStripe, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = card_settings(tmp_path, fake_stripe.url, database_url)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        order_id = _order(client).json()["order_id"]
        payload = event("checkout.session.completed", completed(fake_stripe.session_for(order_id)))

        def broken(*_args: Any, **_kwargs: Any) -> PaymentResult:
            raise IntegrityError("INSERT INTO mint_jobs ...", {}, Exception("a constraint of ours"))

        monkeypatch.setattr(card_events, "apply_payment", broken)
        response = _deliver(client, payload)

        assert response.status_code == 500
        assert response.json()["error"]["code"] == "internal_error"
        assert _state(client, order_id) == {"status": "pending_payment", "payments": 0, "events": 0, "jobs": 0}
        monkeypatch.undo()  # fixed on our side: Stripe's next delivery is applied
        assert _deliver(client, payload).json() == {"received": True, "duplicate": False}
        assert _state(client, order_id) == {"status": "paid", "payments": 1, "events": 1, "jobs": 2}


def test_a_constraint_failure_from_a_concurrent_copy_is_a_duplicate(
    tmp_path: Path, fake_stripe: FakeStripe, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = card_settings(tmp_path, fake_stripe.url, database_url)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        order_id = _order(client).json()["order_id"]
        payload = event("checkout.session.completed", completed(fake_stripe.session_for(order_id)))
        receive = card_events.receive

        def lost_race(session: Any, event: dict[str, Any], payload: str, now: datetime) -> str:
            with session_scope(runtime.sessions) as winner:  # the other copy commits first
                receive(winner, event, payload, now)
            raise IntegrityError("INSERT INTO payments ...", {}, Exception("duplicate key"))

        monkeypatch.setattr(card_events, "receive", lost_race)
        response = _deliver(client, payload)

        assert (response.status_code, response.json()) == (200, {"received": True, "duplicate": True})
        assert _state(client, order_id) == {"status": "paid", "payments": 1, "events": 1, "jobs": 2}
