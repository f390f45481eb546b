"""Bids through the API, one at a time: who may bid, when, how much; idempotent replays; the
outbid mail; the rate limit; the lot's JSON; the bid log published after the close."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from backend.app import create_app
from backend.core.config import Settings
from backend.core.db import session_scope
from backend.naming import bid_log, lots_router
from backend.naming.lot_view import BIDS_SHOWN
from backend.naming.models import Bid, Lot
from backend.runtime import Runtime
from tests.naming.auction_world import Bidder, Clock, add_bidder, add_lot

pytestmark = pytest.mark.chain

START = 1_900_000_000  # a fixed second; the clock is the test's


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for the module (its chain deploys once); each test makes its own lot and bidders."""
    app = create_app(Settings(chain="eth-tester://", data_dir=tmp_path_factory.mktemp("bids") / "data"))
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def runtime(client: TestClient) -> Runtime:
    found: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return found


@pytest.fixture
def clock(client: TestClient) -> Clock:
    return Clock(START + 60).install(client.app)  # type: ignore[arg-type]


@pytest.fixture
def lot_id(runtime: Runtime) -> int:
    return add_lot(runtime.sessions, START)


def bid(client: TestClient, lot: int, bidder: Bidder, amount: Any, key: str | None = None) -> Any:
    return client.post(f"/api/v1/lots/{lot}/bids", json={"amount_jpy": amount}, headers=bidder.bid_headers(key))


def code(response: Any) -> str:
    found: str = response.json()["error"]["code"]
    return found


def mails_to(runtime: Runtime, address: str) -> list[email.message.EmailMessage]:
    folder = runtime.settings.data_dir / "mail"
    found = []
    for path in sorted(folder.glob("*.eml")) if folder.exists() else []:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        if message["To"] == address:
            found.append(message)
    return found


def test_a_bid_is_the_first_entry_of_the_log_and_the_new_price(
    client: TestClient, runtime: Runtime, clock: Clock, lot_id: int
) -> None:
    alice = add_bidder(runtime, lot_id)

    placed = bid(client, lot_id, alice, 1_000)

    assert placed.status_code == 201, placed.text
    answer = placed.json()
    assert answer["bid"]["seq"] == 1
    assert answer["bid"]["amount_jpy"] == 1_000
    assert answer["bid"]["at"] == "2030-03-17T17:47:40Z"  # START + 60, whole seconds, UTC
    lot = answer["lot"]
    assert (lot["highest_bid_jpy"], lot["bid_count"], lot["minimum_bid_jpy"]) == (1_000, 1, 2_000)
    assert lot["bids"] == [
        {"seq": 1, "amount_jpy": 1_000, "bidder": "入札者 1", "bidder_number": 1, "at": "2030-03-17T17:47:40Z"}
    ]
    assert client.get(f"/api/v1/lots/{lot_id}").json() == lot
    with runtime.sessions() as session:
        row = session.scalar(select(Bid).where(Bid.lot_id == lot_id))
        stored = session.get(Lot, lot_id)
        assert row is not None
        assert stored is not None
        assert row.prev_hash == bid_log.GENESIS
        line = bid_log.canonical_line(lot_id, 1, 1, 1_000, START + 60, START + 3_600)
        assert row.entry_hash == bid_log.entry_hash(bid_log.GENESIS, line) == stored.log_head


def test_lot_json_shows_the_auction_and_its_newest_bids_first(
    client: TestClient, runtime: Runtime, clock: Clock
) -> None:
    lot_id = add_lot(runtime.sessions, START, min_increment_jpy=1_000)
    bidders = [add_bidder(runtime, lot_id) for _ in range(2)]
    amounts = [1_000 * (n + 1) for n in range(BIDS_SHOWN + 3)]
    for index, amount in enumerate(amounts):
        assert bid(client, lot_id, bidders[index % 2], amount).status_code == 201

    lot = client.get(f"/api/v1/lots/{lot_id}").json()

    assert lot["status"] == "open"
    assert lot["park_name_ja"] == "水沢名水公園"
    assert lot["municipality"] == "hoshikawa"
    assert lot["bid_count"] == len(amounts)
    assert [b["amount_jpy"] for b in lot["bids"]] == amounts[::-1][:BIDS_SHOWN]
    assert [b["bidder"] for b in lot["bids"][:2]] == ["入札者 1", "入札者 2"]  # 23 bids: the last by the first
    assert (lot["min_increment_jpy"], lot["minimum_bid_jpy"]) == (1_000, 24_000)  # the lot's fixed step
    assert lot["chain"] == {"chain_id": 31337, "contract": "0x" + "cd" * 20, "lot_id": 1}
    assert lot["server_time"] == "2030-03-17T17:47:40Z"
    assert lot["payment_methods"] == ["demo"]  # a demo deployment without Stripe: no card offered
    assert client.get("/api/v1/lots/999999").json()["error"]["code"] == "lot_not_found"


def test_bid_too_low_says_the_minimum(client: TestClient, runtime: Runtime, clock: Clock, lot_id: int) -> None:
    alice, bob = add_bidder(runtime, lot_id), add_bidder(runtime, lot_id)

    below_reserve = bid(client, lot_id, alice, 999)
    assert bid(client, lot_id, alice, 10_000).status_code == 201
    below_step = bid(client, lot_id, bob, 10_999)

    assert (below_reserve.status_code, code(below_reserve)) == (409, "bid_too_low")
    assert below_reserve.json()["error"]["minimum_bid_jpy"] == 1_000
    assert (below_step.status_code, code(below_step)) == (409, "bid_too_low")
    assert below_step.json()["error"]["minimum_bid_jpy"] == 11_000
    assert bid(client, lot_id, bob, 11_000).status_code == 201
    assert bid(client, lot_id, alice, 100_000).status_code == 201
    above_5_percent = bid(client, lot_id, bob, 104_999)  # 5 % of ¥100,000 is more than ¥1,000
    assert above_5_percent.json()["error"]["minimum_bid_jpy"] == 105_000


def test_only_registered_bidders_with_a_ready_payment_method_may_bid(
    client: TestClient, runtime: Runtime, clock: Clock, lot_id: int
) -> None:
    stranger = add_bidder(runtime, lot_id, registered=False)
    pending = add_bidder(runtime, lot_id, payment_state="pending")

    assert code(bid(client, lot_id, stranger, 1_000)) == "not_registered"
    assert code(bid(client, lot_id, pending, 1_000)) == "payment_pending"
    unsigned = client.post(f"/api/v1/lots/{lot_id}/bids", json={"amount_jpy": 1_000}, headers={"Idempotency-Key": "k"})
    assert (unsigned.status_code, code(unsigned)) == (401, "unauthorized")
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).where(Bid.lot_id == lot_id)) == 0


@pytest.mark.parametrize("amount", [1_000.5, "1000", 0, -5, 1_000_000_001, None, True])
def test_amount_must_be_whole_yen_in_range(
    client: TestClient, runtime: Runtime, clock: Clock, lot_id: int, amount: Any
) -> None:
    alice = add_bidder(runtime, lot_id)
    refused = bid(client, lot_id, alice, amount)
    assert refused.status_code == 422, refused.text


def test_a_whole_number_written_with_a_fraction_is_yen(
    client: TestClient, runtime: Runtime, clock: Clock, lot_id: int
) -> None:
    """JSON Schema's `integer` (what the OpenAPI document says) includes `1000.0`."""
    alice = add_bidder(runtime, lot_id)
    accepted = bid(client, lot_id, alice, 1_000.0)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["bid"]["amount_jpy"] == 1_000


def test_a_bid_needs_an_idempotency_key(client: TestClient, runtime: Runtime, clock: Clock, lot_id: int) -> None:
    alice = add_bidder(runtime, lot_id)
    refused = client.post(f"/api/v1/lots/{lot_id}/bids", json={"amount_jpy": 1_000}, headers=alice.headers)
    assert refused.status_code == 422
    assert "idempotency-key" in refused.text.lower()


def test_the_same_key_and_amount_is_the_same_bid(
    client: TestClient, runtime: Runtime, clock: Clock, lot_id: int
) -> None:
    alice = add_bidder(runtime, lot_id)
    first = bid(client, lot_id, alice, 5_000, key="bid-1")

    again = bid(client, lot_id, alice, 5_000, key="bid-1")
    other_amount = bid(client, lot_id, alice, 6_000, key="bid-1")
    clock.now = START + 7 * 86_400  # long after the close: still the same answer
    after_close = bid(client, lot_id, alice, 5_000, key="bid-1")

    assert first.status_code == again.status_code == after_close.status_code == 201
    assert first.json()["bid"] == again.json()["bid"] == after_close.json()["bid"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert (other_amount.status_code, code(other_amount)) == (409, "idempotency_key_reused")
    assert after_close.json()["lot"]["bid_count"] == 1
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).where(Bid.lot_id == lot_id)) == 1


def test_bids_are_taken_from_the_start_until_the_end_only(
    client: TestClient, runtime: Runtime, clock: Clock, lot_id: int
) -> None:
    alice = add_bidder(runtime, lot_id)

    clock.now = START - 1
    early = bid(client, lot_id, alice, 1_000)
    clock.now = START  # the start is in
    first = bid(client, lot_id, alice, 1_000)
    clock.now = START + 3_600  # the end is out
    late = bid(client, lot_id, alice, 2_000)

    assert (early.status_code, code(early)) == (409, "auction_not_started")
    assert first.status_code == 201
    assert (late.status_code, code(late)) == (409, "auction_closed")
    assert client.get(f"/api/v1/lots/{lot_id}").json()["status"] == "ended"


def test_a_lot_not_yet_on_chain_or_settled_takes_no_bids(client: TestClient, runtime: Runtime, clock: Clock) -> None:
    creating = add_lot(runtime.sessions, START, chain_state="creating", chain_lot_id=None)
    unsold = add_lot(runtime.sessions, START, phase="unsold")
    bidders = [add_bidder(runtime, creating), add_bidder(runtime, unsold)]

    assert code(bid(client, creating, bidders[0], 1_000)) == "auction_not_started"
    assert code(bid(client, unsold, bidders[1], 1_000)) == "auction_closed"
    assert client.get(f"/api/v1/lots/{creating}").json()["status"] == "scheduled"
    assert code(bid(client, 999_999, bidders[0], 1_000)) == "lot_not_found"


def test_a_bid_in_the_soft_close_window_extends_the_end(
    client: TestClient, runtime: Runtime, clock: Clock, lot_id: int
) -> None:
    alice, bob = add_bidder(runtime, lot_id), add_bidder(runtime, lot_id)
    end = START + 3_600

    clock.now = end - 301  # just outside the 300 s window
    outside = bid(client, lot_id, alice, 1_000).json()
    clock.now = end - 300  # the window's first second
    inside = bid(client, lot_id, bob, 2_000).json()

    assert outside["bid"]["ends_at"] == outside["lot"]["ends_at"] == "2030-03-17T18:46:40Z"  # end, unmoved
    assert inside["lot"]["ends_at"] == "2030-03-17T18:46:40Z"  # now + 300 = the end: not later, unmoved
    clock.now = end - 10
    late = bid(client, lot_id, alice, 3_000).json()
    assert late["lot"]["ends_at"] == "2030-03-17T18:51:30Z"  # end - 10 + 300
    assert late["lot"]["auction_end"] == "2030-03-17T18:46:40Z"  # the first end stays on record


def test_the_outbid_bidder_is_mailed_in_japanese_first(
    client: TestClient, runtime: Runtime, clock: Clock, lot_id: int
) -> None:
    alice, bob = add_bidder(runtime, lot_id), add_bidder(runtime, lot_id)

    assert bid(client, lot_id, alice, 1_000).status_code == 201
    assert bid(client, lot_id, alice, 2_000).status_code == 201  # raising one's own bid: no mail
    assert mails_to(runtime, alice.email) == []
    assert bid(client, lot_id, bob, 3_000).status_code == 201

    (message,) = mails_to(runtime, alice.email)
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert message["Subject"].startswith("より高い入札がありました")
    assert text.index("3,000 円") < text.index("¥3,000")  # Japanese first
    assert f"{runtime.settings.public_url}/lots/{lot_id}" in text
    assert mails_to(runtime, bob.email) == []


def test_bids_are_rate_limited_per_holder(
    client: TestClient, runtime: Runtime, clock: Clock, lot_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lots_router, "BIDS_PER_HOLDER", (3, 3_600))
    alice, bob = add_bidder(runtime, lot_id), add_bidder(runtime, lot_id)
    answers = [bid(client, lot_id, alice, 1_000 * (n + 1)).status_code for n in range(4)]

    assert answers == [201, 201, 201, 429]
    assert bid(client, lot_id, bob, 10_000).status_code == 201  # per holder


def test_the_bid_log_is_published_after_the_close_and_checks_out(
    client: TestClient, runtime: Runtime, clock: Clock, lot_id: int
) -> None:
    alice, bob = add_bidder(runtime, lot_id), add_bidder(runtime, lot_id)
    for index, amount in enumerate([1_000, 2_000, 5_000, 6_000]):
        assert bid(client, lot_id, (alice, bob)[index % 2], amount).status_code == 201
    before = client.get(f"/api/v1/lots/{lot_id}/bid-log")

    clock.now = START + 3_600
    published = client.get(f"/api/v1/lots/{lot_id}/bid-log")

    assert (before.status_code, code(before)) == (409, "auction_open")
    assert published.status_code == 200
    log = bid_log.BidLog.model_validate(published.json())
    assert [(e.seq, e.bidder, e.amount_jpy) for e in log.entries] == [
        (1, "入札者 1", 1_000),
        (2, "入札者 2", 2_000),
        (3, "入札者 1", 5_000),
        (4, "入札者 2", 6_000),
    ]
    assert log.entries[0].line == f"furusato-bid/1 lot={lot_id} seq=1 bidder=1 amount_jpy=1000 at={START + 60} " + (
        f"ends_at={START + 3_600}"
    )
    with runtime.sessions() as session:
        stored = session.get(Lot, lot_id)
        assert stored is not None
        assert log.head == stored.log_head
    assert bid_log.verify(lot_id, log.head, log.entries) == []
    # A changed amount, a dropped entry and a swapped pair are each caught.
    changed = [log.entries[0], log.entries[1].model_copy(update={"amount_jpy": 2_500}), *log.entries[2:]]
    assert bid_log.verify(lot_id, log.head, changed) != []
    assert bid_log.verify(lot_id, log.head, log.entries[:1] + log.entries[2:]) != []
    assert bid_log.verify(lot_id, log.head, [log.entries[1], log.entries[0], *log.entries[2:]]) != []
    assert bid_log.verify(lot_id, "0" * 64, log.entries) != []


def test_the_bid_log_of_a_lot_without_bids_is_empty(client: TestClient, runtime: Runtime, clock: Clock) -> None:
    lot_id = add_lot(runtime.sessions, START - 7_200)  # ended an hour ago
    published = client.get(f"/api/v1/lots/{lot_id}/bid-log").json()
    assert (published["head"], published["entries"]) == ("", [])
    assert bid_log.verify(lot_id, "", []) == []
    with session_scope(runtime.sessions) as session:
        lot = session.get(Lot, lot_id)
        assert lot is not None
        lot.phase = "unsold"
    assert client.get(f"/api/v1/lots/{lot_id}").json()["status"] == "unsold"


def test_an_in_process_client_gets_the_first_event_and_the_end(
    client: TestClient, runtime: Runtime, lot_id: int
) -> None:
    answer = client.get(f"/api/v1/lots/{lot_id}/events")  # the TestClient reads only ended responses

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    head, event = answer.text.split("\n\n", 1)
    assert head == "retry: 3000"
    name, event_id, data = event.rstrip("\n").split("\n")
    assert (name, event_id) == ("event: lot", "id: 0")
    assert json.loads(data.removeprefix("data: "))["id"] == lot_id
    assert client.get("/api/v1/lots/999999/events").json()["error"]["code"] == "lot_not_found"
