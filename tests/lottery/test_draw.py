"""The draw job on an in-process chain: the record's stages, the anchor, the draw, the places'
orders, exactly once when killed at any step, promotion rounds, settling, the mails."""

from __future__ import annotations

import email
import email.header
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.app import create_app
from backend.core.config import Settings
from backend.lottery import algorithm, draw
from backend.lottery.models import Lottery, LotteryApplication
from backend.runtime import Runtime
from backend.sales.models import Drop, Order
from minting import failpoints
from tests.lottery.helpers import (
    Clock,
    KillPoint,
    anchor_rows,
    anchor_txs_on_chain,
    application_body,
    apply,
    close_now,
    job_of,
    lottery_orders,
    make_lottery,
    read_application,
    runtime_of,
    stage,
    sweep_until,
    sweeps,
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for the module; each test has its own lottery drop and runs only its job."""
    data_dir = tmp_path_factory.mktemp("draw") / "data"
    with TestClient(
        create_app(Settings(chain="eth-tester://", data_dir=data_dir, order_rate_per_minute=0))
    ) as test_client:
        yield test_client


def applied(client: TestClient, drop_id: int, quantities: list[int], start: int = 0) -> list[dict[str, Any]]:
    created = []
    for index, quantity in enumerate(quantities, start=start):
        response = apply(
            client, drop_id, application_body(index, email=f"d{drop_id}-{index}@example.jp", quantity=quantity)
        )
        assert response.status_code == 201, response.text
        created.append(response.json())
    return created


def record(client: TestClient, drop_id: int) -> dict[str, Any]:
    response = client.get(f"/api/v1/drops/{drop_id}/lottery")
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def expected_draw(client: TestClient, drop_id: int) -> algorithm.DrawResult:
    """The draw recomputed from the published record and list alone."""
    public = record(client, drop_id)
    listing = client.get(f"/api/v1/drops/{drop_id}/lottery/entries").json()
    entries = [(entry["entry_id"], entry["quantity"]) for entry in listing["entries"]]
    return algorithm.draw(public["server_seed"], public["anchor"]["block_hash"], entries, public["supply"])


def drawn(runtime: Runtime, drop_id: int) -> bool:
    return stage(runtime, drop_id) in ("drawn", "settled")


def pay(client: TestClient, created: dict[str, Any]) -> dict[str, Any]:
    view = read_application(client, created)
    paid = client.post(
        f"/api/v1/orders/{view['order_id']}/demo-pay", headers={"Authorization": f"Bearer {view['order_token']}"}
    )
    assert paid.status_code == 200, paid.text
    answer: dict[str, Any] = paid.json()
    return answer


# ── the record's stages ──────────────────────────────────────────────────────


def test_the_record_shows_each_field_from_its_stage_and_the_seed_only_from_the_draw(client: TestClient) -> None:
    runtime = runtime_of(client)
    drop_id = make_lottery(runtime, supply=5, limit=2)
    clock = Clock()
    job = job_of(runtime, clock, only=drop_id)
    always = {"algorithm", "state", "seed_commitment", "applications_close_at", "draw_at", "supply", "entries_count"}

    open_record = record(client, drop_id)
    assert set(open_record) == always
    assert (open_record["algorithm"], open_record["state"], open_record["supply"]) == ("furusato-lottery-1", "open", 5)
    assert len(open_record["seed_commitment"]) == 64
    not_yet = client.get(f"/api/v1/drops/{drop_id}/lottery/entries")
    assert (not_yet.status_code, not_yet.json()["error"]["code"]) == (409, "entries_not_fixed")

    applied(client, drop_id, [1, 2, 1])
    assert record(client, drop_id)["entries_count"] == 3
    clock.now = close_now(runtime, drop_id, draw_too=False)
    job.close(drop_id, clock.now)
    closed = record(client, drop_id)
    assert set(closed) == always | {"list_hash"}  # no anchor until it is mined (and deep enough)
    assert closed["state"] == "closed"
    listing = client.get(f"/api/v1/drops/{drop_id}/lottery/entries").json()
    entries = [(entry["entry_id"], entry["quantity"]) for entry in listing["entries"]]
    assert [entry for entry, _q in entries] == sorted(entry for entry, _q in entries)
    assert listing["list_hash"] == closed["list_hash"] == algorithm.list_hash(entries)

    assert job.anchor(drop_id)
    anchored = record(client, drop_id)
    assert set(anchored) == always | {"list_hash", "anchor"}
    anchor = anchored["anchor"]
    assert anchor["chain_id"] == runtime.chain.chain_id
    assert anchor["from"] == job.account.address.lower()
    assert anchor["tx_hash"].startswith("0x")
    assert anchor["tx_hash"] == anchor["tx_hash"].lower()
    block = runtime.chain.w3.eth.get_block(anchor["block_number"])
    assert block["hash"].to_0x_hex() == anchor["block_hash"]
    tx = runtime.chain.w3.eth.get_transaction(anchor["tx_hash"])
    assert (tx["to"], tx["value"], tx["input"].hex()) == (tx["from"], 0, anchored["list_hash"])
    assert "server_seed" not in anchored  # drawn only at draw_at

    clock.now = close_now(runtime, drop_id)
    sweep_until(job, lambda: drawn(runtime, drop_id))
    final = record(client, drop_id)
    assert set(final) == always | {
        "list_hash",
        "anchor",
        "server_seed",
        "final_seed",
        "winners",
        "waitlist",
        "promotions",
    }
    assert final["state"] == "drawn"
    assert algorithm.seed_commitment(final["server_seed"]) == final["seed_commitment"]
    result = expected_draw(client, drop_id)
    assert final["final_seed"] == result.final_seed
    assert final["winners"] == [{"entry_id": e.entry_id, "quantity": e.quantity} for e in result.winners]
    assert final["waitlist"] == result.waitlist
    assert final["promotions"] == []
    for name in ("applications_close_at", "draw_at", "supply", "seed_commitment", "list_hash", "anchor"):
        assert final[name] == (anchored | {"draw_at": final["draw_at"]})[name]


def test_the_server_draws_what_the_algorithm_draws_and_later_smaller_entries_may_win(client: TestClient) -> None:
    runtime = runtime_of(client)
    drop_id = make_lottery(runtime, supply=10, limit=5)
    created = applied(client, drop_id, [5, 4, 3, 2, 1, 5, 4, 3, 2, 1, 1, 1])
    clock = Clock()
    job = job_of(runtime, clock, only=drop_id)
    clock.now = close_now(runtime, drop_id)
    sweep_until(job, lambda: drawn(runtime, drop_id))
    result = expected_draw(client, drop_id)
    assert sum(e.quantity for e in result.winners) <= 10
    views = {view["entry_id"]: view for view in (read_application(client, c) for c in created)}
    winners = {e.entry_id for e in result.winners}
    for rank, entry in enumerate(result.ranking, start=1):
        view = views[entry.entry_id]
        assert view["rank"] == rank
        assert view["status"] == ("won" if entry.entry_id in winners else "waitlisted")
        assert (view["order_id"] is not None) == (entry.entry_id in winners)
    orders = lottery_orders(runtime, drop_id)
    assert sorted(q for _id, _s, q in orders) == sorted(e.quantity for e in result.winners)
    assert {status for _id, status, _q in orders} == {"pending_payment"}
    with runtime.sessions() as session:
        drop = session.get(Drop, drop_id)
        assert drop is not None
        assert drop.reserved == sum(e.quantity for e in result.winners)  # the places' stock is taken
        lottery = session.get(Lottery, drop_id)
        assert lottery is not None
        assert lottery.drawn_at is not None
        for _id, _status, _q in orders:
            order = session.get(Order, _id)
            assert order is not None
            assert order.payment_method == "demo"
            assert abs((order.expires_at - lottery.drawn_at.replace(tzinfo=None)).total_seconds() - 48 * 3600) < 1


def test_an_empty_list_is_anchored_and_drawn_with_no_winners(client: TestClient) -> None:
    runtime = runtime_of(client)
    drop_id = make_lottery(runtime, supply=3)
    clock = Clock()
    job = job_of(runtime, clock, only=drop_id)
    clock.now = close_now(runtime, drop_id)
    sweep_until(job, lambda: stage(runtime, drop_id) == "settled")
    public = record(client, drop_id)
    assert (
        public["list_hash"]
        == algorithm.list_hash([])
        == client.get(f"/api/v1/drops/{drop_id}/lottery/entries").json()["list_hash"]
    )
    assert (public["entries_count"], public["winners"], public["waitlist"]) == (0, [], [])
    assert public["anchor"]["block_hash"].startswith("0x")
    assert anchor_rows(runtime, drop_id) == 1


# ── exactly once ─────────────────────────────────────────────────────────────


def one_of_everything(client: TestClient, drop_id: int) -> None:
    """One anchor (stored and on chain), one order per winner, the winners the algorithm draws."""
    runtime = runtime_of(client)
    public = record(client, drop_id)
    assert anchor_rows(runtime, drop_id) == 1
    assert anchor_txs_on_chain(runtime, public["anchor"]["from"], public["list_hash"]) == [public["anchor"]["tx_hash"]]
    result = expected_draw(client, drop_id)
    assert public["winners"] == [{"entry_id": e.entry_id, "quantity": e.quantity} for e in result.winners]
    with runtime.sessions() as session:
        places = session.execute(
            select(LotteryApplication.entry_id, LotteryApplication.order_id, Order.quantity)
            .join(Order, Order.id == LotteryApplication.order_id)
            .where(LotteryApplication.drop_id == drop_id)
        ).all()
    assert sorted((e, q) for e, _o, q in places) == sorted(result.winners)
    assert len(lottery_orders(runtime, drop_id)) == len(result.winners)


@pytest.mark.parametrize(
    "kill_at",
    [
        "lottery_after_close",
        "lottery_before_anchor",
        "once_after_store",  # the sender stored the anchor, did not broadcast it
        "once_after_broadcast",  # broadcast (mined), its receipt not read
        "lottery_after_anchor",  # mined and read, not recorded
        "lottery_after_ranking",  # ranked, no order made
        "lottery_between_orders",  # some orders made
    ],
)
def test_a_job_killed_at_any_step_and_restarted_anchors_once_and_makes_one_set_of_orders(
    client: TestClient, kill_at: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = runtime_of(client)
    drop_id = make_lottery(runtime, supply=10, limit=1)
    applied(client, drop_id, [1] * 12)
    monkeypatch.setattr(draw, "ORDER_BATCH", 4)  # three batches of orders
    clock = Clock()
    killed = job_of(runtime, clock, kill_at=kill_at, only=drop_id)

    def sender_failpoint(name: str) -> None:
        if name == kill_at:
            raise KillPoint(name)

    monkeypatch.setattr(failpoints, "hit", sender_failpoint)
    clock.now = close_now(runtime, drop_id)
    with pytest.raises(KillPoint):
        sweep_until(killed, lambda: False, rounds=10)
    monkeypatch.setattr(failpoints, "hit", lambda _name: None)

    restarted = job_of(runtime, clock, only=drop_id)
    sweep_until(restarted, lambda: drawn(runtime, drop_id))
    for _ in range(2):  # and running on does nothing more
        restarted.sweep()
    one_of_everything(client, drop_id)


def test_two_jobs_at_once_draw_once(client: TestClient) -> None:
    import threading

    runtime = runtime_of(client)
    drop_id = make_lottery(runtime, supply=20, limit=1)
    applied(client, drop_id, [1] * 30)
    clock = Clock()
    clock.now = close_now(runtime, drop_id)
    jobs = [job_of(runtime, clock, only=drop_id) for _ in range(3)]
    threads = [threading.Thread(target=sweeps, args=(job, 6)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    sweep_until(jobs[0], lambda: drawn(runtime, drop_id))
    one_of_everything(client, drop_id)


def test_the_anchor_counts_only_with_the_confirmation_depth(tmp_path_factory: pytest.TempPathFactory) -> None:
    data_dir = tmp_path_factory.mktemp("depth") / "data"
    with TestClient(
        create_app(Settings(chain="eth-tester://", data_dir=data_dir, mint_confirmations=3, order_rate_per_minute=0))
    ) as deep:
        runtime = runtime_of(deep)
        drop_id = make_lottery(runtime)
        applied(deep, drop_id, [1, 1])
        clock = Clock()
        job = job_of(runtime, clock, only=drop_id)
        clock.now = close_now(runtime, drop_id)
        job.sweep()
        assert anchor_rows(runtime, drop_id) == 1
        assert "anchor" not in record(deep, drop_id)
        tester = runtime.chain.w3.provider.ethereum_tester  # type: ignore[attr-defined]
        tester.mine_blocks(2)
        job.sweep()
        assert "anchor" not in record(deep, drop_id)
        tester.mine_blocks(1)
        sweep_until(job, lambda: drawn(runtime, drop_id))
        public = record(deep, drop_id)
        assert runtime.chain.w3.eth.block_number - public["anchor"]["block_number"] >= 3
        assert anchor_rows(runtime, drop_id) == 1


# ── promotions ───────────────────────────────────────────────────────────────


def test_unpaid_places_lapse_together_and_the_waitlist_gets_them_in_rank_order(client: TestClient) -> None:
    runtime = runtime_of(client)
    drop_id = make_lottery(runtime, supply=4, limit=2, pay_within_hours=24)
    created = applied(client, drop_id, [1, 2, 1, 1, 2, 1, 1, 1])
    by_entry = {c["entry_id"]: c for c in created}
    clock = Clock()
    job = job_of(runtime, clock, only=drop_id)
    clock.now = close_now(runtime, drop_id)
    sweep_until(job, lambda: drawn(runtime, drop_id))
    result = expected_draw(client, drop_id)
    first, *unpaid = result.winners
    pay(client, by_entry[first.entry_id])

    clock.advance(hours=23)
    job.sweep()
    assert record(client, drop_id)["promotions"] == []  # nobody past the deadline yet
    clock.advance(hours=2)
    job.sweep()
    job.sweep()  # the promoted places' orders
    public = record(client, drop_id)
    (round_1,) = public["promotions"]
    assert round_1["lapsed"] == [e.entry_id for e in unpaid]  # all together, in rank order
    settlement = algorithm.Settlement(public["supply"], result.winners, result.waitlist, result.ranking)
    promoted = settlement.apply_round(round_1["lapsed"])
    assert round_1["promoted"] == [{"entry_id": e.entry_id, "quantity": e.quantity} for e in promoted]
    assert promoted  # the example has room for the waitlist
    for entry in unpaid:
        view = read_application(client, by_entry[entry.entry_id])
        assert (view["status"], view["order_id"]) == ("expired", None)
    for entry in promoted:
        view = read_application(client, by_entry[entry.entry_id])
        assert view["status"] == "promoted"
        assert view["order_id"] is not None
    assert public["winners"] == [{"entry_id": e.entry_id, "quantity": e.quantity} for e in result.winners]  # as drawn

    # A lapsed winner's order cannot be paid any more.
    lapsed_order = [o for o in lottery_orders(runtime, drop_id) if o[1] == "expired"]
    assert len(lapsed_order) == len(unpaid)

    # The promoted pay; nothing can move any more: settled, and the rest of the waitlist lost.
    for entry in promoted:
        pay(client, by_entry[entry.entry_id])
    sweep_until(job, lambda: stage(runtime, drop_id) == "settled")
    assert record(client, drop_id)["state"] == "settled"
    statuses = {c["entry_id"]: read_application(client, c)["status"] for c in created}
    placed = {first.entry_id} | {e.entry_id for e in promoted}
    assert {e for e, s in statuses.items() if s == "paid"} == placed
    assert {e for e, s in statuses.items() if s == "lost"} == set(by_entry) - placed - {e.entry_id for e in unpaid}
    with runtime.sessions() as session:
        drop = session.get(Drop, drop_id)
        assert drop is not None
        assert drop.reserved == sum(e.quantity for e in [first, *promoted])


def test_a_promoted_place_that_lapses_is_not_promoted_again(client: TestClient) -> None:
    runtime = runtime_of(client)
    drop_id = make_lottery(runtime, supply=1, limit=1, pay_within_hours=1)
    created = applied(client, drop_id, [1, 1, 1])
    clock = Clock()
    job = job_of(runtime, clock, only=drop_id)
    clock.now = close_now(runtime, drop_id)
    sweep_until(job, lambda: drawn(runtime, drop_id))
    result = expected_draw(client, drop_id)
    for _ in range(3):  # nobody ever pays
        clock.advance(hours=2)
        job.sweep()
        job.sweep()
    rounds = record(client, drop_id)["promotions"]
    replayed = algorithm.replay_promotions(
        1, result.winners, result.waitlist, result.ranking, [r["lapsed"] for r in rounds]
    )
    assert [r["promoted"] for r in rounds] == [
        [{"entry_id": e.entry_id, "quantity": e.quantity} for e in p] for p in replayed
    ]
    assert [len(r["lapsed"]) for r in rounds] == [1, 1, 1]
    assert rounds[-1]["promoted"] == []
    lapsed = [entry for r in rounds for entry in r["lapsed"]]
    assert sorted(lapsed) == sorted(c["entry_id"] for c in created)  # each lapsed once
    assert stage(runtime, drop_id) == "settled"  # nothing left to move
    assert {read_application(client, c)["status"] for c in created} == {"expired"}


# ── mail ─────────────────────────────────────────────────────────────────────


def mails_to(runtime: Runtime, address: str) -> list[tuple[str, str]]:
    """(subject, body) of every mail to `address`, oldest first."""
    found = []
    for path in sorted((runtime.settings.data_dir / "mail").glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes())
        if message["To"] == address:
            subject = str(email.header.make_header(email.header.decode_header(message["Subject"])))
            body = message.get_payload(decode=True)
            assert isinstance(body, bytes)
            found.append((subject, body.decode()))
    return found


def test_winners_get_their_order_link_and_the_others_the_result(client: TestClient) -> None:
    runtime = runtime_of(client)
    drop_id = make_lottery(runtime, supply=1, limit=1)
    created = applied(client, drop_id, [1, 1])
    clock = Clock()
    job = job_of(runtime, clock, only=drop_id)
    job.send_mail(clock.now)  # the receipts
    clock.now = close_now(runtime, drop_id)
    sweep_until(job, lambda: drawn(runtime, drop_id))
    job.send_mail(clock.now)
    result = expected_draw(client, drop_id)
    (winner,) = [c for c in created if c["entry_id"] == result.winners[0].entry_id]
    (other,) = [c for c in created if c is not winner]
    winner_view = read_application(client, winner)
    address = f"d{drop_id}-{created.index(winner)}@example.jp"
    subject, body = mails_to(runtime, address)[-1]
    assert "当選" in subject
    assert f"/order.html?id={winner_view['order_id']}#token={winner_view['order_token']}" in body
    assert winner["entry_id"] in body
    subject, body = mails_to(runtime, f"d{drop_id}-{created.index(other)}@example.jp")[-1]
    assert "補欠" in subject
    assert other["entry_id"] in body
    pay(client, winner)
    sweep_until(job, lambda: stage(runtime, drop_id) == "settled")
    job.send_mail(clock.now)
    subject, _body = mails_to(runtime, f"d{drop_id}-{created.index(other)}@example.jp")[-1]
    assert "抽選結果のお知らせ" in subject  # lost
    assert len(mails_to(runtime, address)) == 2  # receipt, won: paying sends nothing more
