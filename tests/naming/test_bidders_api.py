"""Bidders over HTTP: signing up from the lot page, registering with demo and with a card saved
through Stripe (the fake), what a bidder sees of themselves, what is refused."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.holders.models import Holder as HolderRow
from backend.naming.models import LotBidder
from tests.naming.lot_world import (
    Holder,
    app_client,
    bidding_clock,
    card_settings,
    complete_card_setup,
    deliver,
    editor,
    make_lot,
    now_second,
    runtime_of,
)
from tests.payments.fake_stripe import FakeStripe

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module")
def fake_stripe() -> Iterator[FakeStripe]:
    from tests.naming.lot_world import API_KEY

    fake = FakeStripe(API_KEY).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, fake_stripe: FakeStripe) -> Iterator[TestClient]:
    with app_client(card_settings(tmp_path_factory.mktemp("bidders") / "data", fake_stripe.url)) as test_client:
        yield test_client


@pytest.fixture
def lot(client: TestClient) -> dict[str, Any]:
    return make_lot(client, editor(client), now_second())


def bidder_row(client: TestClient, lot_id: int, holder: Holder) -> LotBidder:
    with runtime_of(client).sessions() as session:
        row = session.scalar(
            select(LotBidder).where(LotBidder.lot_id == lot_id, LotBidder.holder_id == holder.holder_id)
        )
        assert row is not None
        return row


def test_a_demo_bidder_is_numbered_in_order_and_ready_at_once(client: TestClient, lot: dict[str, Any]) -> None:
    first, second = Holder(client, "first@example.jp"), Holder(client, "second@example.jp")

    one = first.register(lot["id"], prefecture="27")
    two = second.register(lot["id"])
    again = first.register(lot["id"], prefecture="01")

    assert one.status_code == 201, one.text
    assert two.status_code == 201, two.text
    assert one.json() == {
        "bidder": "入札者 1",
        "bidder_en": "Bidder 1",
        "number": 1,
        "payment_method": "demo",
        "payment_state": "ready",
        "setup_url": None,
    }
    assert two.json()["bidder"] == "入札者 2"
    assert again.status_code == 200
    assert again.json() == one.json()
    assert bidder_row(client, lot["id"], first).prefecture == "27"
    me = first.me(lot["id"])
    assert me["registered"]
    assert me["bidder"] == "入札者 1"
    assert me["payment_state"] == "ready"
    assert me["my_highest_bid_jpy"] is None
    assert not me["is_highest"]
    assert me["offer"] is None
    staff_view = client.get(f"/api/v1/staff/towns/hoshikawa/lots/{lot['id']}", headers=editor(client)).json()
    assert [(b["bidder"], b["prefecture"]) for b in staff_view["bidders"]] == [("入札者 1", "27"), ("入札者 2", "13")]


def test_a_card_bidder_is_pending_until_stripe_saves_the_card(
    client: TestClient, fake_stripe: FakeStripe, lot: dict[str, Any]
) -> None:
    holder = Holder(client, "card@example.jp")

    response = holder.register(lot["id"], method="card")

    assert response.status_code == 201, response.text
    registered = response.json()
    assert registered["payment_state"] == "pending"
    assert registered["setup_url"]
    session = fake_stripe.sessions[registered["setup_url"].rsplit("/", 1)[1]]
    assert session["mode"] == "setup"
    assert session["customer"] in fake_stripe.customers
    assert session["metadata"] == {
        "naming": "setup",
        "lot_id": str(lot["id"]),
        "bidder_id": str(session["metadata"]["bidder_id"]),
    }
    form = next(
        r.form for r in fake_stripe.requests if r.path == "/v1/checkout/sessions" and r.form.get("mode") == "setup"
    )
    assert form["currency"] == "jpy"
    assert form["setup_intent_data[metadata][naming]"] == "setup"
    clock = bidding_clock(client, lot)
    refused = client.post(
        f"/api/v1/lots/{lot['id']}/bids",
        json={"amount_jpy": 1_000},
        headers={**holder.headers, "Idempotency-Key": "k1"},
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "payment_pending"
    again = holder.register(lot["id"], method="card")
    assert again.status_code == 200
    assert again.json()["setup_url"] == registered["setup_url"]
    assert len(fake_stripe.customers) == 1

    complete_card_setup(client, fake_stripe, registered["setup_url"])

    row = bidder_row(client, lot["id"], holder)
    assert row.payment_state == "ready"
    assert row.card_customer == session["customer"]
    assert holder.me(lot["id"])["payment_state"] == "ready"
    assert holder.register(lot["id"], method="card").json()["setup_url"] is None
    clock.now += 1
    assert holder.bid(lot["id"], 1_000).json()["bid"]["amount_jpy"] == 1_000


def test_a_setup_event_for_another_bidder_or_replayed_changes_nothing(
    client: TestClient, fake_stripe: FakeStripe, lot: dict[str, Any]
) -> None:
    holder = Holder(client, "replay@example.jp")
    setup_url = holder.register(lot["id"], method="card").json()["setup_url"]
    completed = fake_stripe.complete_setup(setup_url.rsplit("/", 1)[1])

    deliver(client, "checkout.session.completed", {**completed, "metadata": {**completed["metadata"], "lot_id": "999"}})
    assert bidder_row(client, lot["id"], holder).payment_state == "pending"
    deliver(client, "checkout.session.completed", {**completed, "status": "open"})
    assert bidder_row(client, lot["id"], holder).payment_state == "pending"
    deliver(client, "checkout.session.completed", completed)
    assert bidder_row(client, lot["id"], holder).payment_state == "ready"


def test_registration_closes_with_the_auction(client: TestClient, lot: dict[str, Any]) -> None:
    from backend.core.db import session_scope
    from backend.naming.models import Lot

    with session_scope(runtime_of(client).sessions) as session:
        row = session.get(Lot, lot["id"])
        assert row is not None
        row.ends_at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)  # ended a moment ago
        row.auction_start = row.ends_at - timedelta(hours=1)

    response = Holder(client, "late@example.jp").register(lot["id"])

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "auction_closed"


def test_registering_needs_a_session_and_a_lot(client: TestClient, lot: dict[str, Any]) -> None:
    body = {"prefecture": "13", "payment_method": "demo"}
    assert client.post(f"/api/v1/lots/{lot['id']}/bidders", json=body).status_code == 401
    assert client.get(f"/api/v1/lots/{lot['id']}/me").status_code == 401
    missing = Holder(client, "nolot@example.jp").register(2_000_000)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "lot_not_found"


def test_card_is_unavailable_without_stripe_and_demo_outside_demo_mode(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from backend.core.config import Settings

    settings = Settings(chain="eth-tester://", data_dir=tmp_path_factory.mktemp("nocard") / "data")
    with app_client(settings) as client:
        lot = make_lot(client, editor(client), now_second())
        response = Holder(client, "x@example.jp").register(lot["id"], method="card")
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "payment_method_unavailable"
        runtime_of(client).settings.demo_mode = False
        try:
            demo = Holder(client, "y@example.jp").register(lot["id"])
        finally:
            runtime_of(client).settings.demo_mode = True
        assert demo.status_code == 409
        assert demo.json()["error"]["code"] == "payment_method_unavailable"


def _mails(client: TestClient) -> set[Any]:
    folder = runtime_of(client).settings.data_dir / "mail"
    return set(folder.glob("*.eml")) if folder.exists() else set()


def test_sign_in_can_make_the_account_and_return_to_the_lot(client: TestClient) -> None:
    address = "newbidder@example.jp"
    before = _mails(client)

    plain = client.post("/api/v1/holders/sign-in", json={"email": address})
    assert plain.status_code == 202
    assert _mails(client) == before
    made = client.post("/api/v1/holders/sign-in", json={"email": address, "create_account": True, "next": "/lots/3"})

    assert made.status_code == 202
    assert made.json() == plain.json()
    new = _mails(client) - before
    assert len(new) == 1
    message = email.message_from_bytes(new.pop().read_bytes(), policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    assert "/signin.html#token=" in body.get_content()
    assert "&next=/lots/3" in body.get_content()
    with runtime_of(client).sessions() as session:
        holder = session.scalar(select(HolderRow).where(HolderRow.email == address))
        assert holder is not None
        assert holder.address.startswith("0x")
    for unsafe in ("//evil.example/x", "https://evil.example/", "/a b", "lots/3"):
        refused = client.post("/api/v1/holders/sign-in", json={"email": address, "next": unsafe})
        assert refused.status_code == 422, unsafe
