"""The settle job run by several processes at once (PostgreSQL, where they really race), and
by `furusato run`'s own loop thread with nobody calling it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from backend.core.db import session_scope
from backend.naming.models import Lot, LotOffer
from tests.naming.lot_world import (
    API_KEY,
    Holder,
    after_the_end,
    app_client,
    bidding_clock,
    card_settings,
    complete_card_setup,
    editor,
    lot_row,
    make_lot,
    now_second,
    offers_of,
    rights,
    runtime_of,
    sent_purposes,
    settler,
)
from tests.payments.fake_stripe import FakeStripe

pytestmark = pytest.mark.chain

SETTLERS = 4


def wait_for(condition: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def fake_stripe() -> Any:
    fake = FakeStripe(API_KEY).start()
    yield fake
    fake.stop()


def test_settlers_racing_on_postgres_close_charge_and_award_once(
    tmp_path: Path, postgres_url: str, fake_stripe: FakeStripe
) -> None:
    with app_client(card_settings(tmp_path / "data", fake_stripe.url, database_url=postgres_url)) as client:
        lot = make_lot(client, editor(client), now_second())
        winner = Holder(client, "winner@example.jp")
        complete_card_setup(client, fake_stripe, winner.register(lot["id"], method="card").json()["setup_url"])
        other = Holder(client, "other@example.jp")
        assert other.register(lot["id"]).status_code == 201
        clock = bidding_clock(client, lot)
        other.bid(lot["id"], 1_000)
        clock.now += 1
        winner.bid(lot["id"], 9_000)
        end = after_the_end(lot["id"], client)
        jobs = [settler(client) for _ in range(SETTLERS)]
        start = threading.Barrier(SETTLERS)
        failures: list[BaseException] = []

        def run(index: int) -> None:
            try:
                start.wait()
                for round_ in range(3):
                    jobs[index].run_once(end + timedelta(seconds=round_))
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=run, args=(index,)) for index in range(SETTLERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert failures == []

        (offer,) = offers_of(client, lot["id"])
        assert (offer.round, offer.state, offer.amount_jpy) == (1, "paid", 9_000)
        charged = [pi for pi in fake_stripe.payment_intents.values() if pi["metadata"].get("offer_id") == str(offer.id)]
        assert len(charged) == 1
        assert charged[0]["status"] == "succeeded"
        assert sent_purposes(client, f"naming:lot:{lot['id']}:award") == 1
        row = lot_row(client, lot["id"])
        assert row.awarded_to == winner.address
        assert rights(client, row.contract).contract.functions.ownerOf(row.chain_lot_id).call() == winner.address
        with runtime_of(client).sessions() as session:
            assert session.scalar(select(func.count()).select_from(LotOffer).where(LotOffer.lot_id == lot["id"])) == 1


def test_the_loop_of_furusato_run_settles_and_awards_by_itself(tmp_path: Path, fake_stripe: FakeStripe) -> None:
    with app_client(card_settings(tmp_path / "data", fake_stripe.url)) as client:
        lot = make_lot(client, editor(client), now_second())
        bidder = Holder(client, "loop@example.jp")
        assert bidder.register(lot["id"]).status_code == 201
        bidding_clock(client, lot, seconds_in=1)
        bidder.bid(lot["id"], 1_000)
        with session_scope(runtime_of(client).sessions) as session:  # the hour passes in a second
            row = session.get(Lot, lot["id"])
            assert row is not None
            row.ends_at = now_second() + timedelta(seconds=1)
        runtime_of(client).start_worker()

        offer = wait_for(lambda: bidder.me(lot["id"])["offer"], what="the offer after the end")
        assert (offer["round"], offer["state"], offer["pay_with"]) == (1, "awaiting_payment", "demo")
        paid = client.post(f"/api/v1/lots/{lot['id']}/offers/{offer['id']}/demo-pay", headers=bidder.headers)
        assert paid.status_code == 200, paid.text

        wait_for(lambda: bidder.me(lot["id"])["is_primary_winner"], what="the award on chain")
        assert lot_row(client, lot["id"]).awarded_to == bidder.address
