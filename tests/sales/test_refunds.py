"""Refunds by staff (eth-tester, SQLite, the fake Stripe): before minting the numbers come back
and the next buyer gets them; after minting the card stays on chain, revoked, and the holder
is mailed; card orders are refunded at Stripe once, whichever way its webhook races; repeats
answer the same refund; refusals change nothing."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select, update

from backend.core.db import session_scope
from backend.core.models import AuditEntry
from backend.payments.models import Payment, WebhookEvent
from backend.sales.drops import card_artifact
from backend.sales.models import BuyerCount, Drop, FreeSerial, Order, OrderCard, Refund
from backend.towns.models import Municipality
from minting.resident_card import ResidentCardClient
from minting.store import MintJobRow
from tests.factories import await_minted, staff_headers
from tests.payments.conftest import API_KEY, WEBHOOK_SECRET
from tests.payments.fake_stripe import FakeStripe, completed, event, refunded_charge, signed_event
from tests.sales.conftest import bearer, order_body, runtime_of

pytestmark = pytest.mark.chain

TOWN = "/api/v1/staff/towns/hoshikawa"
REASON = "購入者からの申し出 (the buyer asked)"


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    fake = FakeStripe(API_KEY).start()
    yield fake
    fake.stop()


@pytest.fixture
def card_client(make_client: Any, fake_stripe: FakeStripe) -> TestClient:
    client: TestClient = make_client(
        card_api_key=SecretStr(API_KEY), card_webhook_secret=SecretStr(WEBHOOK_SECRET), card_api_base=fake_stripe.url
    )
    return client


def _owner(client: TestClient) -> dict[str, str]:
    return staff_headers(runtime_of(client).sessions, "hoshikawa", "owner")


def _paid(client: TestClient, **body: Any) -> dict[str, Any]:
    created: dict[str, Any] = client.post("/api/v1/orders", json=order_body(**body)).json()
    assert client.post(f"/api/v1/orders/{created['order_id']}/demo-pay", headers=bearer(created)).status_code == 200
    return created


def _deliver(client: TestClient, payload: dict[str, Any]) -> None:
    body, headers = signed_event(payload, WEBHOOK_SECRET)
    response = client.post("/api/v1/payments/card/webhook", content=body, headers=headers)
    assert response.status_code == 200, response.text


def _card_paid(client: TestClient, fake: FakeStripe, **body: Any) -> dict[str, Any]:
    created: dict[str, Any] = client.post("/api/v1/orders", json=order_body(payment_method="card", **body)).json()
    _deliver(client, event("checkout.session.completed", completed(fake.session_for(created["order_id"]))))
    return created


def _refund(client: TestClient, order_id: str, headers: dict[str, str], reason: str = REASON) -> Any:
    return client.post(f"{TOWN}/orders/{order_id}/refund", headers=headers, json={"reason": reason})


def _count(client: TestClient, query: Any) -> int:
    with runtime_of(client).sessions() as session:
        return int(session.scalar(query) or 0)


def _audits(client: TestClient, order_id: str) -> list[tuple[str, dict[str, Any]]]:
    with runtime_of(client).sessions() as session:
        rows = session.execute(
            select(AuditEntry.action, AuditEntry.after)
            .where(AuditEntry.target_type == "order", AuditEntry.target_id == order_id)
            .order_by(AuditEntry.id)
        )
        return [(action, json.loads(after)) for action, after in rows]


def _mails_to(client: TestClient, address: str) -> list[tuple[str, str]]:
    """(subject, body) of every mail written for `address`."""
    folder: Path = runtime_of(client).settings.data_dir / "mail"
    mails = []
    for path in sorted(folder.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if message["To"] == address:
            mails.append((str(message["Subject"]), message.get_content()))
    return mails


def _remaining(client: TestClient) -> int:
    remaining: int = client.get("/api/v1/drops/1").json()["remaining"]
    return remaining


# ── demo orders ─────────────────────────────────────────────────────────────


def test_refund_before_minting_gives_the_numbers_back_to_the_next_buyer(client: TestClient) -> None:
    before = _remaining(client)
    created = _paid(client, quantity=2, email="first@example.jp")
    assert _remaining(client) == before - 2

    response = _refund(client, created["order_id"], _owner(client))

    assert response.status_code == 201, response.text
    refund = response.json()
    assert refund == {
        **refund,
        "order_id": created["order_id"],
        "status": "succeeded",
        "order_status": "refunded",
        "reason": REASON,
        "amount_jpy": 2000,
    }
    assert refund["completed_at"] is not None
    assert _remaining(client) == before  # stock back
    assert _count(client, select(func.count()).select_from(MintJobRow)) == 0  # the jobs never run
    assert _count(client, select(func.count()).where(OrderCard.order_id == created["order_id"])) == 0
    assert _count(client, select(func.sum(BuyerCount.count)).where(BuyerCount.buyer == "email:first@example.jp")) == 0
    assert _count(client, select(func.count()).where(Payment.status == "refunded")) == 1
    buyer = client.get(f"/api/v1/orders/{created['order_id']}", headers=bearer(created)).json()
    assert (buyer["status"], buyer["token_ids"]) == ("refunded", [])
    # The next buyers get those numbers, lowest first.
    following = [_paid(client, email="next@example.jp"), _paid(client, email="third@example.jp")]
    numbers = [client.get(f"/api/v1/orders/{o['order_id']}", headers=bearer(o)).json()["token_ids"] for o in following]
    assert numbers == [[1], [2]]
    ((action, after),) = _audits(client, created["order_id"])
    assert action == "order.refund"
    assert (after["cancelled_token_ids"], after["revoked_token_ids"]) == ([1, 2], [])
    ((subject, body),) = _mails_to(client, "first@example.jp")
    assert "返金" in subject
    assert "refunded" in subject
    assert "No.1, No.2" in body
    assert "発行されません" in body
    assert created["order_token"] not in body  # no secret
    assert REASON not in body  # nor the town's internal note


def test_a_double_click_answers_the_same_refund_and_changes_nothing_more(client: TestClient) -> None:
    created = _paid(client)
    headers = _owner(client)
    first = _refund(client, created["order_id"], headers)

    again = _refund(client, created["order_id"], headers, reason="another reason")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()  # the first reason, the first times
    assert _count(client, select(func.count()).select_from(Refund)) == 1
    assert [action for action, _after in _audits(client, created["order_id"])] == ["order.refund"]
    assert len(_mails_to(client, "supporter@example.jp")) == 1


def test_refund_after_minting_revokes_the_card_keeps_it_on_chain_and_mails_the_holder(client: TestClient) -> None:
    runtime = runtime_of(client)
    created = _paid(client, email="holder@example.jp")
    runtime.start_worker()
    minted = await_minted(client, created)
    remaining = _remaining(client)

    response = _refund(client, created["order_id"], _owner(client))

    assert response.status_code == 201, response.text
    (token_id,) = minted["token_ids"]
    with runtime.sessions() as session:
        card = session.get(OrderCard, (created["order_id"], token_id))
        assert card is not None
        assert card.revoked_at is not None
        assert session.scalar(select(func.count()).select_from(FreeSerial)) == 0
    cards = ResidentCardClient.at(runtime.chain.w3, card_artifact(), runtime.card_contract)
    assert cards.owner_of(token_id) == minted["owner"]  # still on chain, still theirs
    assert _remaining(client) == remaining  # the card exists: its place is not sold again
    page = client.get(f"{TOWN}/orders/{created['order_id']}", headers=_owner(client)).json()
    assert [(c["token_id"], c["revoked_at"] is not None) for c in page["cards"]] == [(token_id, True)]
    assert page["refund"]["status"] == "succeeded"
    assert [entry["event"] for entry in page["history"]][-3:] == ["refund_requested", "refunded", "order.refund"]
    ((_subject, body),) = _mails_to(client, "holder@example.jp")
    assert f"No.{token_id}" in body
    assert "無効" in body
    assert "revoked" in body


# ── refusals ────────────────────────────────────────────────────────────────


def _snapshot(client: TestClient) -> dict[str, Any]:
    with runtime_of(client).sessions() as session:
        return {
            "orders": session.execute(select(Order.id, Order.status).order_by(Order.id)).all(),
            "refunds": session.scalar(select(func.count()).select_from(Refund)),
            "audit": session.scalar(select(func.count()).select_from(AuditEntry)),
            "reserved": session.scalar(select(Drop.reserved).where(Drop.id == 1)),
        }


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"reason": ""},
        {"reason": "   "},
        {"reason": "x" * 501},
        {"reason": "ok", "amount_jpy": 1},
        {"reason": "a\u0000"},
    ],
)
def test_a_refund_needs_a_reason_of_1_to_500_characters(client: TestClient, body: dict[str, Any]) -> None:
    created = _paid(client)
    headers = _owner(client)
    before = _snapshot(client)

    response = client.post(f"{TOWN}/orders/{created['order_id']}/refund", headers=headers, json=body)

    assert response.status_code == 422
    assert _snapshot(client) == before


def test_unpaid_expired_and_wallet_orders_are_not_refunded(client: TestClient) -> None:
    runtime = runtime_of(client)
    headers = _owner(client)
    pending = client.post("/api/v1/orders", json=order_body(email="pending@example.jp")).json()
    expired = client.post("/api/v1/orders", json=order_body(email="expired@example.jp")).json()
    with session_scope(runtime.sessions) as session:
        session.execute(update(Order).where(Order.id == expired["order_id"]).values(status="expired"))
    wallet_address = runtime.chain.dev_accounts()[5].address
    wallet = client.post(
        "/api/v1/orders", json=order_body(email="w@example.jp", payment_method="wallet", wallet_address=wallet_address)
    ).json()
    before = _snapshot(client)

    answers = [_refund(client, order["order_id"], headers) for order in (pending, expired, wallet)]

    assert [(r.status_code, r.json()["error"]["code"]) for r in answers] == [
        (409, "not_refundable"),
        (409, "not_refundable"),
        (409, "refund_unsupported"),
    ]
    message = answers[2].json()["error"]["message"]
    assert "財務" in message
    assert "treasury" in message
    assert _snapshot(client) == before


def test_editors_refund_only_where_the_town_allows_it(client: TestClient) -> None:
    runtime = runtime_of(client)
    created = _paid(client)
    editor = staff_headers(runtime.sessions, "hoshikawa", "editor")
    analyst = staff_headers(runtime.sessions, "hoshikawa", "analyst")
    before = _snapshot(client)

    assert _refund(client, created["order_id"], editor).status_code == 403
    assert _refund(client, created["order_id"], analyst).status_code == 403
    assert _snapshot(client) == before
    with session_scope(runtime.sessions) as session:
        session.execute(update(Municipality).where(Municipality.slug == "hoshikawa").values(editors_may_refund=True))

    assert _refund(client, created["order_id"], editor).status_code == 201
    assert _refund(client, _paid(client, email="b@example.jp")["order_id"], analyst).status_code == 403


# ── card orders, through the fake Stripe ────────────────────────────────────


def _refund_row(client: TestClient, order_id: str) -> Refund:
    with runtime_of(client).sessions() as session:
        return session.scalars(select(Refund).where(Refund.order_id == order_id)).one()


def _order_status(client: TestClient, order_id: str) -> str:
    with runtime_of(client).sessions() as session:
        order = session.get(Order, order_id)
        assert order is not None
        return order.status


def test_a_card_refund_is_made_at_stripe_once_and_its_webhook_changes_nothing_more(
    card_client: TestClient, fake_stripe: FakeStripe
) -> None:
    client = card_client
    created = _card_paid(client, fake_stripe, quantity=2)
    checkout = fake_stripe.session_for(created["order_id"])
    headers = _owner(client)

    response = _refund(client, created["order_id"], headers)

    assert response.status_code == 201, response.text
    ((seen),) = fake_stripe.refund_requests()
    assert seen.headers["Idempotency-Key"] == f"refund-{created['order_id']}"
    assert (seen.form["payment_intent"], seen.form["amount"]) == (checkout["payment_intent"], "2000")
    ((refund_id, stripe_refund),) = fake_stripe.refunds.items()
    assert response.json()["provider_ref"] == refund_id
    assert (response.json()["status"], response.json()["order_status"]) == ("succeeded", "refunded")
    # Stripe's webhook follows: the order is refunded already, nothing changes.
    _deliver(client, event("charge.refunded", {**refunded_charge(checkout), "id": stripe_refund["charge"]}))
    assert _order_status(client, created["order_id"]) == "refunded"
    with runtime_of(client).sessions() as session:
        assert session.scalar(select(WebhookEvent.state).where(WebhookEvent.type == "charge.refunded")) == "applied"
    assert _refund(client, created["order_id"], headers).status_code == 200
    assert len(fake_stripe.refund_requests()) == 1
    assert [action for action, _after in _audits(client, created["order_id"])] == ["order.refund"]


def test_a_webhook_that_arrives_before_stripes_answer_still_leaves_one_settled_refund(
    card_client: TestClient, fake_stripe: FakeStripe
) -> None:
    client = card_client
    created = _card_paid(client, fake_stripe)
    checkout = fake_stripe.session_for(created["order_id"])
    fake_stripe.on_refund = lambda refund: _deliver(client, event("charge.refunded", refunded_charge(checkout)))

    response = _refund(client, created["order_id"], _owner(client))

    assert response.status_code == 201, response.text
    assert response.json()["status"] == "succeeded"
    assert len(fake_stripe.refunds) == 1
    with runtime_of(client).sessions() as session:  # the webhook was applied first, then ours
        assert session.scalar(select(WebhookEvent.state).where(WebhookEvent.type == "charge.refunded")) == "applied"
        assert session.scalar(select(func.count()).select_from(MintJobRow)) == 0  # cancelled all the same
        assert session.scalar(select(func.count()).select_from(FreeSerial)) == 1
    ((action, after),) = _audits(client, created["order_id"])
    assert (action, after["cancelled_token_ids"]) == ("order.refund", [1])


def test_a_pending_stripe_refund_settles_the_order_and_succeeds_once_the_webhook_confirms(
    card_client: TestClient, fake_stripe: FakeStripe
) -> None:
    client = card_client
    fake_stripe.refund_status = "pending"
    created = _card_paid(client, fake_stripe)
    headers = _owner(client)

    response = _refund(client, created["order_id"], headers)

    assert (response.status_code, response.json()["status"], response.json()["order_status"]) == (
        201,
        "requested",
        "refunded",
    )
    _deliver(client, event("charge.refunded", refunded_charge(fake_stripe.session_for(created["order_id"]))))
    page = client.get(f"{TOWN}/orders/{created['order_id']}", headers=headers).json()
    assert page["refund"]["status"] == "succeeded"
    assert _refund(client, created["order_id"], headers).json()["status"] == "succeeded"
    assert len(fake_stripe.refund_requests()) == 1


def test_stripe_unavailable_leaves_the_claim_and_a_retry_after_a_minute_refunds_once(
    card_client: TestClient, fake_stripe: FakeStripe
) -> None:
    client = card_client
    created = _card_paid(client, fake_stripe)
    headers = _owner(client)
    fake_stripe.refund_failure = (503, "service_unavailable")

    down = _refund(client, created["order_id"], headers)

    assert (down.status_code, down.json()["error"]["code"]) == (502, "payment_provider_unavailable")
    assert API_KEY not in down.text
    assert _order_status(client, created["order_id"]) == "paid"
    assert (_refund_row(client, created["order_id"]).status, _refund_row(client, created["order_id"]).provider_ref) == (
        "requested",
        None,
    )
    asked = len(fake_stripe.refund_requests())
    fake_stripe.refund_failure = None
    # At once, a repeat is taken for a double click on a refund in flight: answered, not resent.
    assert (_refund(client, created["order_id"], headers).status_code, len(fake_stripe.refund_requests())) == (
        200,
        asked,
    )
    with session_scope(runtime_of(client).sessions) as session:
        claim = session.scalars(select(Refund)).one()  # made a minute ago, by a process that died
        claim.created_at = claim.created_at - timedelta(seconds=61)

    retried = _refund(client, created["order_id"], headers)

    assert (retried.status_code, retried.json()["status"], retried.json()["order_status"]) == (
        200,
        "succeeded",
        "refunded",
    )
    assert len(fake_stripe.refunds) == 1
    assert [action for action, _after in _audits(client, created["order_id"])] == ["order.refund"]


def test_a_refund_stripe_refuses_is_recorded_and_asking_again_retries_it(
    card_client: TestClient, fake_stripe: FakeStripe
) -> None:
    client = card_client
    created = _card_paid(client, fake_stripe)
    headers = _owner(client)
    fake_stripe.refund_failure = (400, "charge_disputed")

    refused = _refund(client, created["order_id"], headers)

    assert (refused.status_code, refused.json()["error"]["code"]) == (502, "refund_refused")
    assert "charge_disputed" in refused.json()["error"]["message"]
    row = _refund_row(client, created["order_id"])
    assert (row.status, row.completed_at) == ("failed", None)
    assert "charge_disputed" in (row.failure or "")
    assert _order_status(client, created["order_id"]) == "paid"
    assert [action for action, _after in _audits(client, created["order_id"])] == ["order.refund_failed"]
    fake_stripe.refund_failure = None

    again = _refund(client, created["order_id"], headers)

    assert (again.status_code, again.json()["status"]) == (200, "succeeded")
    assert len(fake_stripe.refunds) == 1
    assert [action for action, _after in _audits(client, created["order_id"])] == [
        "order.refund_failed",
        "order.refund",
    ]


def test_an_order_refunded_in_stripes_dashboard_has_its_cards_settled_without_a_second_refund(
    card_client: TestClient, fake_stripe: FakeStripe
) -> None:
    client = card_client
    created = _card_paid(client, fake_stripe)
    _deliver(client, event("charge.refunded", refunded_charge(fake_stripe.session_for(created["order_id"]))))
    assert _order_status(client, created["order_id"]) == "refunded"  # the webhook alone: jobs still queued
    assert _count(client, select(func.count()).select_from(MintJobRow)) == 1

    response = _refund(client, created["order_id"], _owner(client))

    assert (response.status_code, response.json()["status"]) == (201, "succeeded")
    assert fake_stripe.refund_requests() == []
    assert _count(client, select(func.count()).select_from(MintJobRow)) == 0
    assert _count(client, select(func.count()).select_from(FreeSerial)) == 1
