"""The settle job: from the auction's end to the right on chain, each step exactly once.

Bidders register and bid through the API (the bid path's clock is the test's); the settle
job's steps are called with the moment they judge by, as the loop would call them after the
end; Stripe is the fake (tests/payments/fake_stripe.py), the chain eth-tester.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend.naming.bidders import PAY_GRACE
from backend.naming.charge import charge_key
from backend.naming.rules import PAY_WITHIN_HOURS
from minting import failpoints
from tests.naming.lot_world import (
    PAY_LINK,
    STAFF,
    Holder,
    after_the_end,
    app_client,
    bidding_clock,
    card_settings,
    complete_card_setup,
    deliver,
    editor,
    lot_row,
    mails_to,
    make_lot,
    now_second,
    offers_of,
    rights,
    sent_purposes,
    settler,
    text_of,
)
from tests.payments.fake_stripe import FakeStripe, completed

pytestmark = pytest.mark.chain


class Crash(Exception):
    """The process dying at a failpoint (raised instead of SIGKILL: the test goes on)."""


@pytest.fixture(scope="module")
def fake_stripe() -> Iterator[FakeStripe]:
    from tests.naming.lot_world import API_KEY

    fake = FakeStripe(API_KEY).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, fake_stripe: FakeStripe) -> Iterator[TestClient]:
    with app_client(card_settings(tmp_path_factory.mktemp("settle") / "data", fake_stripe.url)) as test_client:
        yield test_client


@pytest.fixture
def lot(client: TestClient, fake_stripe: FakeStripe) -> Iterator[dict[str, Any]]:
    fake_stripe.charge_failure = None
    yield make_lot(client, editor(client), now_second())
    fake_stripe.charge_failure = None


def card_bidder(client: TestClient, fake: FakeStripe, lot_id: int, address: str) -> Holder:
    holder = Holder(client, address)
    registered = holder.register(lot_id, method="card")
    assert registered.status_code == 201, registered.text
    complete_card_setup(client, fake, registered.json()["setup_url"])
    return holder


def demo_bidder(client: TestClient, lot_id: int, address: str) -> Holder:
    holder = Holder(client, address)
    assert holder.register(lot_id).status_code == 201
    return holder


def crash_at(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    def hit(point: str) -> None:
        if point == name:
            raise Crash(point)

    monkeypatch.setattr(failpoints, "hit", hit)


def charges_of(fake: FakeStripe, offer_id: int) -> list[dict[str, Any]]:
    return [pi for pi in fake.payment_intents.values() if pi["metadata"].get("offer_id") == str(offer_id)]


def owner_of(client: TestClient, lot_id: int) -> str:
    row = lot_row(client, lot_id)
    assert row.chain_lot_id is not None
    owner: str = rights(client, row.contract).contract.functions.ownerOf(row.chain_lot_id).call()
    return owner


def test_the_winner_is_charged_once_and_awarded_once_despite_a_crash_between(
    client: TestClient, fake_stripe: FakeStripe, lot: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = card_bidder(client, fake_stripe, lot["id"], "alice@example.jp")
    bob = demo_bidder(client, lot["id"], "bob@example.jp")
    clock = bidding_clock(client, lot)
    bob.bid(lot["id"], 1_000)
    clock.now += 1
    alice.bid(lot["id"], 2_000)
    end = after_the_end(lot["id"], client)

    job = settler(client)
    assert job.close_ended(end - timedelta(seconds=2)) == 0  # not yet: still open
    job.close_ended(end)
    (offer,) = offers_of(client, lot["id"])
    assert (offer.round, offer.amount_jpy, offer.state) == (1, 2_000, "charging")
    crash_at(monkeypatch, "naming_after_paid")  # Stripe charged, we committed, then died
    with pytest.raises(Crash):
        job.charge_offers(end)
    assert lot_row(client, lot["id"]).phase == "awarded"
    assert lot_row(client, lot["id"]).award_tx_hash is None
    monkeypatch.undo()

    restarted = settler(client)  # another process, after the crash
    restarted.run_once(end)
    restarted.run_once(end + timedelta(minutes=1))
    settler(client).run_once(end + timedelta(minutes=2))

    (charge,) = charges_of(fake_stripe, offer.id)
    assert (charge["status"], charge["amount"], charge["currency"]) == ("succeeded", 2_000, "jpy")
    assert charge["customer"] is not None
    assert charge["payment_method"] is not None
    assert sent_purposes(client, f"naming:lot:{lot['id']}:award") == 1
    row = lot_row(client, lot["id"])
    assert row.awarded_to == alice.address
    assert row.award_tx_hash is not None
    assert owner_of(client, lot["id"]) == alice.address
    assert rights(client, row.contract).lot(row.chain_lot_id).winner == alice.address  # type: ignore[arg-type]
    (paid,) = offers_of(client, lot["id"])
    assert paid.state == "paid"
    assert paid.payment_ref == charge["id"]
    me = alice.me(lot["id"])
    assert me["is_primary_winner"]
    assert me["offer"]["state"] == "paid"
    assert me["offer"]["pay_url"] is None
    assert not bob.me(lot["id"])["is_primary_winner"]
    (award,) = mails_to(client, alice.email, "命名権")
    assert award["Subject"].startswith("水沢名水公園 の命名権があなたに授与されました")
    assert text_of(award).index("授与しました") < text_of(award).index("is yours")  # Japanese first
    log = client.get(f"/api/v1/lots/{lot['id']}/offers").json()
    assert [(o["round"], o["bidder"], o["amount_jpy"], o["state"]) for o in log] == [(1, "入札者 1", 2_000, "paid")]


def test_a_crash_after_stripe_charged_and_before_the_commit_charges_once(
    client: TestClient, fake_stripe: FakeStripe, lot: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = card_bidder(client, fake_stripe, lot["id"], "alice2@example.jp")
    bidding_clock(client, lot)
    alice.bid(lot["id"], 5_000)
    end = after_the_end(lot["id"], client)
    job = settler(client)
    job.close_ended(end)
    (offer,) = offers_of(client, lot["id"])
    crash_at(monkeypatch, "naming_after_charge")
    with pytest.raises(Crash):
        job.charge_offers(end)
    assert offers_of(client, lot["id"])[0].state == "charging"  # nothing recorded: the process died
    monkeypatch.undo()

    settler(client).run_once(end)

    asked = [
        r
        for r in fake_stripe.requests
        if r.path == "/v1/payment_intents" and r.headers.get("Idempotency-Key") == charge_key(offer.id)
    ]
    assert len(asked) == 2  # asked twice, with the same key…
    assert len(charges_of(fake_stripe, offer.id)) == 1  # …charged once
    assert offers_of(client, lot["id"])[0].state == "paid"
    assert owner_of(client, lot["id"]) == alice.address
    assert sent_purposes(client, f"naming:lot:{lot['id']}:award") == 1


def test_a_refused_charge_gives_the_winner_a_pay_link_and_paying_it_awards_the_right(
    client: TestClient, fake_stripe: FakeStripe, lot: dict[str, Any]
) -> None:
    alice = card_bidder(client, fake_stripe, lot["id"], "alice3@example.jp")
    bidding_clock(client, lot)
    alice.bid(lot["id"], 30_000)
    end = after_the_end(lot["id"], client)
    fake_stripe.charge_failure = "authentication_required"
    settler(client).run_once(end)

    (offer,) = offers_of(client, lot["id"])
    assert (offer.state, offer.charge_error) == ("awaiting_payment", "authentication_required")
    assert offer.pay_deadline is not None
    deadline = offer.pay_deadline if offer.pay_deadline.tzinfo else offer.pay_deadline.replace(tzinfo=end.tzinfo)
    assert deadline == end + timedelta(hours=PAY_WITHIN_HOURS)
    assert lot_row(client, lot["id"]).phase == "awaiting_payment"
    (mail,) = mails_to(client, alice.email, "お支払い")
    link = PAY_LINK.search(text_of(mail))
    assert link is not None
    assert int(link.group(1)) == lot["id"]
    assert int(link.group(2)) == offer.id
    token = link.group(3)
    me = alice.me(lot["id"])["offer"]
    assert me["state"] == "awaiting_payment"
    assert me["pay_with"] == "checkout"
    assert me["pay_url"].endswith(f"?offer={offer.id}&pay={token}")
    assert client.get(f"/api/v1/lots/{lot['id']}").json()["status"] == "awaiting_payment"

    url = f"/api/v1/lots/{lot['id']}/offers/{offer.id}/checkout"
    assert client.post(url, json={"token": "x" * 43}).status_code == 404
    first = client.post(url, json={"token": token})
    assert first.status_code == 200, first.text
    again = client.post(url, json={"token": token})
    assert again.json()["checkout_url"] == first.json()["checkout_url"]  # the page still open
    session = fake_stripe.sessions[first.json()["checkout_url"].rsplit("/", 1)[1]]
    assert (session["mode"], session["amount_total"], session["metadata"]["offer_id"]) == (
        "payment",
        30_000,
        str(offer.id),
    )

    deliver(client, "checkout.session.completed", completed(session))
    deliver(client, "checkout.session.completed", completed(session))  # a redelivery: nothing more
    (paid,) = offers_of(client, lot["id"])
    assert paid.state == "paid"
    assert paid.payment_ref == session["payment_intent"]
    settler(client).run_once(end + timedelta(hours=1))

    assert owner_of(client, lot["id"]) == alice.address
    assert lot_row(client, lot["id"]).awarded_to == alice.address
    assert client.post(url, json={"token": token}).json()["error"]["code"] == "offer_paid"
    assert len(charges_of(fake_stripe, offer.id)) == 1  # the refused off-session attempt only
    assert charges_of(fake_stripe, offer.id)[0]["status"] == "requires_payment_method"


def test_an_unpaid_offer_lapses_and_the_next_distinct_bidder_gets_it_at_their_own_bid(
    client: TestClient, lot: dict[str, Any]
) -> None:
    carol = demo_bidder(client, lot["id"], "carol@example.jp")
    bob = demo_bidder(client, lot["id"], "bob4@example.jp")
    alice = demo_bidder(client, lot["id"], "alice4@example.jp")
    clock = bidding_clock(client, lot)
    for holder, amount in ((carol, 1_000), (bob, 2_000), (alice, 3_000), (bob, 4_000), (alice, 5_000)):
        holder.bid(lot["id"], amount)
        clock.now += 1
    end = after_the_end(lot["id"], client)
    job = settler(client)
    job.run_once(end)
    (first,) = offers_of(client, lot["id"])
    assert (first.round, first.amount_jpy, first.state) == (1, 5_000, "awaiting_payment")
    assert alice.me(lot["id"])["offer"]["pay_with"] == "demo"

    lapse_at = end + timedelta(hours=PAY_WITHIN_HOURS) + PAY_GRACE
    job.run_once(lapse_at - timedelta(seconds=1))
    assert offers_of(client, lot["id"])[0].state == "awaiting_payment"  # not yet
    job.run_once(lapse_at)
    settler(client).run_once(lapse_at + timedelta(seconds=1))  # a second process: no third round

    lapsed, second = offers_of(client, lot["id"])
    assert lapsed.state == "lapsed"
    assert (second.round, second.amount_jpy, second.state) == (2, 4_000, "awaiting_payment")  # bob's own highest
    assert bob.me(lot["id"])["offer"]["round"] == 2
    (offer_mail,) = mails_to(client, bob.email, "お支払い")
    assert "あなたの最高入札額" in text_of(offer_mail)
    url = f"/api/v1/lots/{lot['id']}/offers/{second.id}/demo-pay"
    assert client.post(url, headers=alice.headers).status_code == 404  # not alice's offer
    stale = client.post(f"/api/v1/lots/{lot['id']}/offers/{lapsed.id}/demo-pay", headers=alice.headers)
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "offer_not_payable"

    paid = client.post(url, headers=bob.headers)
    assert paid.status_code == 200, paid.text
    assert paid.json()["offer"]["state"] == "paid"
    assert client.post(url, headers=bob.headers).json()["error"]["code"] == "offer_paid"
    job.run_once(lapse_at + timedelta(minutes=1))

    assert owner_of(client, lot["id"]) == bob.address
    assert lot_row(client, lot["id"]).awarded_to == bob.address
    log = client.get(f"/api/v1/lots/{lot['id']}/offers").json()
    assert [(o["round"], o["bidder"], o["amount_jpy"], o["state"]) for o in log] == [
        (1, "入札者 3", 5_000, "lapsed"),
        (2, "入札者 2", 4_000, "paid"),
    ]
    assert not alice.me(lot["id"])["is_primary_winner"]
    assert bob.me(lot["id"])["is_primary_winner"]


def test_at_most_two_second_chances_then_unsold_and_a_lot_with_bids_is_not_relisted(
    client: TestClient, lot: dict[str, Any]
) -> None:
    holders = [demo_bidder(client, lot["id"], f"round{n}@example.jp") for n in range(4)]
    clock = bidding_clock(client, lot)
    for amount, holder in zip((1_000, 2_000, 3_000, 4_000), holders, strict=True):
        holder.bid(lot["id"], amount)
        clock.now += 1
    moment = after_the_end(lot["id"], client)
    job = settler(client)
    job.run_once(moment)
    for _ in range(3):
        moment += timedelta(hours=PAY_WITHIN_HOURS) + PAY_GRACE
        job.run_once(moment)

    offers = offers_of(client, lot["id"])
    assert [(o.round, o.amount_jpy, o.state) for o in offers] == [
        (1, 4_000, "lapsed"),
        (2, 3_000, "lapsed"),
        (3, 2_000, "lapsed"),
    ]
    assert holders[0].me(lot["id"])["offer"] is None  # the fourth bidder is never offered it
    assert lot_row(client, lot["id"]).phase == "unsold"
    assert client.get(f"/api/v1/lots/{lot['id']}").json()["status"] == "unsold"
    window = {
        "auction_start": (now_second() + timedelta(minutes=5)).isoformat(),
        "auction_end": (now_second() + timedelta(days=2)).isoformat(),
    }
    refused = client.post(f"{STAFF}/lots/{lot['id']}/relist", json=window, headers=editor(client))
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "lot_has_bids"
    assert sent_purposes(client, f"naming:lot:{lot['id']}:award") == 0


def test_no_bid_means_unsold_and_staff_relist_it_on_chain(client: TestClient, lot: dict[str, Any]) -> None:
    demo_bidder(client, lot["id"], "watcher@example.jp")  # registered, never bid
    staff = editor(client)
    early = {
        "auction_start": (now_second() + timedelta(minutes=5)).isoformat(),
        "auction_end": (now_second() + timedelta(days=2)).isoformat(),
    }
    not_yet = client.post(f"{STAFF}/lots/{lot['id']}/relist", json=early, headers=staff)
    assert not_yet.status_code == 409
    assert not_yet.json()["error"]["code"] == "lot_not_unsold"
    end = after_the_end(lot["id"], client)
    settler(client).run_once(end)

    row = lot_row(client, lot["id"])
    assert row.phase == "unsold"
    assert offers_of(client, lot["id"]) == []
    assert client.get(f"{STAFF}/lots/{lot['id']}", headers=staff).json()["status"] == "unsold"

    start = now_second() + timedelta(minutes=10)
    window = {
        "auction_start": start.isoformat(),
        "auction_end": (start + timedelta(days=3)).isoformat(),
        "reserve_jpy": 500,
    }
    relisted = client.post(f"{STAFF}/lots/{lot['id']}/relist", json=window, headers=staff)

    assert relisted.status_code == 200, relisted.text
    body = relisted.json()
    assert (body["status"], body["phase"], body["relist_count"], body["reserve_jpy"]) == (
        "scheduled",
        "auction",
        1,
        500,
    )
    assert body["chain"]["error"] == ""
    on_chain = rights(client, row.contract).lot(row.chain_lot_id)  # type: ignore[arg-type]
    assert (on_chain.auction_start, on_chain.auction_end, on_chain.reserve) == (
        int(start.timestamp()),
        int(start.timestamp()) + 3 * 86_400,
        500,
    )
    assert sent_purposes(client, f"naming:lot:{lot['id']}:relist:1") == 1
    settler(client).run_once(start)  # the loop finds nothing to resend
    assert sent_purposes(client, f"naming:lot:{lot['id']}:relist:") == 1
    again = client.post(f"{STAFF}/lots/{lot['id']}/relist", json=window, headers=staff)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "lot_not_unsold"
