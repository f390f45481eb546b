"""Polls over HTTP on one app (eth-tester chain, SQLite): the staff's life of a poll, the
electorate frozen at the opening, votes and their changes, revoked cards, results and the
ballot file recounted by scripts/recount_poll.py run with the system's python."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from backend.app import create_app
from backend.core.config import Settings
from backend.core.db import utcnow
from backend.core.models import AuditEntry, RateCounter
from backend.polls import clock as poll_clock
from backend.polls.models import Poll, PollElector, PollVote
from tests.polls.polls_world import (
    TOWN,
    Clock,
    card_drop,
    close_poll,
    give_card,
    install_clock,
    move_card,
    open_poll,
    poll_body,
    revoke,
    runtime_of,
    scheduled_poll,
    set_approval,
    staff,
    vote,
    voter,
)

pytestmark = pytest.mark.chain

REPO = Path(__file__).resolve().parents[2]
RECOUNT = REPO / "scripts" / "recount_poll.py"
STAFF = f"/api/v1/staff/towns/{TOWN}/polls"


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(chain="eth-tester://", data_dir=tmp_path_factory.mktemp("polls") / "data")
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def clock(app_client: TestClient) -> Iterator[Clock]:
    moving = install_clock(app_client.app)  # type: ignore[arg-type]
    yield moving
    app_client.app.dependency_overrides.clear()  # type: ignore[attr-defined]


@pytest.fixture
def client(app_client: TestClient, clock: Clock) -> TestClient:
    with runtime_of(app_client).sessions() as session:
        session.query(RateCounter).delete()
        session.commit()
    return app_client


# ── staff ───────────────────────────────────────────────────────────────────


def test_staff_write_a_poll_have_it_approved_and_cancel_one(client: TestClient, clock: Clock) -> None:
    runtime = runtime_of(client)
    set_approval(runtime.sessions, True)
    editor, moderator = staff(runtime, "editor"), staff(runtime, "moderator")
    drop_id, _contract = card_drop(runtime)
    opens_at = (clock.now + timedelta(hours=2)).replace(microsecond=0)
    created = client.post(STAFF, json=poll_body(opens_at, series=[drop_id]), headers=editor)
    assert created.status_code == 201, created.text
    poll = created.json()
    assert poll["status"] == "draft"
    assert [o["position"] for o in poll["options"]] == [1, 2, 3]
    assert poll["series"][0]["drop_id"] == drop_id
    url = f"{STAFF}/{poll['id']}"

    edited = client.patch(url, json={"question_en": "Where should the foot bath go?"}, headers=editor)
    assert edited.status_code == 200, edited.text
    assert edited.json()["question_en"] == "Where should the foot bath go?"
    assert client.post(f"{url}/approve", headers=moderator).json()["error"]["code"] == "poll_not_pending"

    submitted = client.post(f"{url}/submit", headers=editor)
    assert submitted.json()["status"] == "pending_approval"
    assert client.patch(url, json={"quorum_percent": 5}, headers=editor).status_code == 409
    assert client.post(f"{url}/approve", headers=editor).status_code == 403  # editors do not approve
    rejected = client.post(f"{url}/reject", json={"reason": "選択肢を増やしてください"}, headers=moderator)
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["reject_reason"] == "選択肢を増やしてください"

    options = [{"label_ja": f"案{n}", "label_en": f"Plan {n}"} for n in range(1, 5)]
    assert client.patch(url, json={"options": options}, headers=editor).status_code == 200
    assert client.post(f"{url}/submit", headers=editor).json()["status"] == "pending_approval"
    owner = staff(runtime, "owner")
    own = client.post(STAFF, json=poll_body(opens_at, series=[drop_id]), headers=owner).json()
    assert client.post(f"{STAFF}/{own['id']}/submit", headers=owner).json()["status"] == "pending_approval"
    refused = client.post(f"{STAFF}/{own['id']}/approve", headers=owner)  # the author: a second person approves
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "own_poll")
    approved = client.post(f"{url}/approve", headers=moderator)
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["status"] == "scheduled"
    assert body["approved_by"] is not None
    assert [o["label_en"] for o in body["options"]] == ["Plan 1", "Plan 2", "Plan 3", "Plan 4"]

    cancelled = client.post(f"{url}/cancel", headers=editor)
    assert cancelled.json()["status"] == "cancelled"
    assert client.get(f"/api/v1/polls/{poll['id']}").status_code == 404  # not public
    with runtime.sessions() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.target_type == "poll", AuditEntry.target_id == str(poll["id"]))
        ).all()
    assert actions == [
        "poll.create",
        "poll.update",
        "poll.submit",
        "poll.reject",
        "poll.update",
        "poll.submit",
        "poll.approve",
        "poll.cancel",
    ]


def test_staff_input_is_checked(client: TestClient, clock: Clock) -> None:
    runtime = runtime_of(client)
    editor = staff(runtime)
    soon = clock.now + timedelta(hours=1)

    def refused(body: dict[str, Any]) -> list[str]:
        answer = client.post(STAFF, json=body, headers=editor)
        assert answer.status_code == 422, answer.text
        return [".".join(str(p) for p in problem["loc"]) for problem in answer.json()["detail"]]

    assert refused(poll_body(soon, options=[{"label_ja": "はい", "label_en": "Yes"}])) == ["body.options"]
    eleven = [{"label_ja": f"{n}", "label_en": f"{n}"} for n in range(11)]
    assert refused(poll_body(soon, options=eleven)) == ["body.options"]
    assert refused(poll_body(soon, closes_at=soon.isoformat())) == ["body"]
    assert refused(poll_body(soon, quorum_percent=101)) == ["body.quorum_percent"]
    assert refused(poll_body(clock.now - timedelta(minutes=5))) == ["body.opens_at"]
    assert refused(poll_body(soon, series=[999_999])) == ["body.series"]
    assert refused(poll_body(soon, status="open")) == ["body.status"]  # the server's field
    # a minute's grace for the console's clock
    assert client.post(STAFF, json=poll_body(clock.now - timedelta(seconds=30)), headers=editor).status_code == 201


def test_a_scheduled_poll_opens_at_its_moment_and_cannot_be_cancelled_then(client: TestClient, clock: Clock) -> None:
    runtime = runtime_of(client)
    drop_id, contract = card_drop(runtime)
    holder = voter(runtime)
    give_card(runtime, drop_id, contract, 1, holder.address)
    poll = scheduled_poll(client, clock, series=[drop_id])
    assert client.get(f"/api/v1/polls/{poll['id']}").json()["electorate"] is None
    assert vote(client, holder, poll, 1, *[]).status_code == 422  # no card named

    opened = open_poll(client, clock, poll)
    assert opened["electorate"] == 1
    assert opened["frozen_at"] is not None
    cancelled = client.post(f"{STAFF}/{poll['id']}/cancel", headers=staff(runtime))
    assert cancelled.status_code == 409
    assert cancelled.json()["error"]["code"] == "poll_not_cancellable"
    staff_view = client.get(f"{STAFF}/{poll['id']}", headers=staff(runtime, "analyst")).json()
    assert (staff_view["status"], staff_view["electorate"], staff_view["votes_so_far"]) == ("open", 1, 0)


def test_the_clock_loop_opens_and_closes_with_the_same_functions(client: TestClient, clock: Clock) -> None:
    runtime = runtime_of(client)
    drop_id, contract = card_drop(runtime)
    give_card(runtime, drop_id, contract, 1, voter(runtime).address)
    poll = scheduled_poll(client, clock, series=[drop_id])
    opens_at = datetime.fromisoformat(poll["opens_at"])
    poll_clock.run_once(runtime.sessions, opens_at - timedelta(seconds=1))  # (the demo's polls may move)
    with runtime.sessions() as session:
        assert session.get(Poll, poll["id"]).status == "scheduled"  # type: ignore[union-attr]
    opened, _closed = poll_clock.run_once(runtime.sessions, opens_at)
    assert opened >= 1
    assert poll_clock.run_once(runtime.sessions, opens_at)[0] == 0  # once
    with runtime.sessions() as session:
        row = session.get(Poll, poll["id"])
        assert row is not None
        assert (row.status, row.electorate) == ("open", 1)
    closes_at = datetime.fromisoformat(poll["closes_at"])
    _opened, closed = poll_clock.run_once(runtime.sessions, closes_at)
    assert closed >= 1
    with runtime.sessions() as session:
        row = session.get(Poll, poll["id"])
        assert row is not None
        assert row.status == "closed"
        assert row.ballots_head is not None


# ── eligibility ─────────────────────────────────────────────────────────────


def test_eligibility_is_frozen_at_the_opening(client: TestClient, clock: Clock) -> None:
    runtime = runtime_of(client)
    drop_id, contract = card_drop(runtime)
    first, second = voter(runtime), voter(runtime)
    moved = give_card(runtime, drop_id, contract, 1, first.address)
    kept = give_card(runtime, drop_id, contract, 2, first.address)
    poll = scheduled_poll(client, clock, series=[drop_id])
    open_poll(client, clock, poll)

    bought_later = give_card(runtime, drop_id, contract, 3, first.address)
    refused = vote(client, first, poll, 1, bought_later)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "not_eligible"

    move_card(runtime, moved, second.address)  # sold after the opening
    new_owner = vote(client, second, poll, 2, moved)
    assert new_owner.status_code == 409
    assert new_owner.json()["error"]["code"] == "not_eligible"
    by_holder_then = vote(client, first, poll, 1, moved, kept)
    assert by_holder_then.status_code == 201, by_holder_then.text
    assert [v["token_id"] for v in by_holder_then.json()["votes"]] == [1, 2]

    mine = client.get("/api/v1/holders/me/polls", headers=first.headers).json()
    entry = next(item for item in mine["items"] if item["poll"]["id"] == poll["id"])
    assert [(c["token_id"], c["position"]) for c in entry["cards"]] == [(1, 1), (2, 1)]
    theirs = client.get("/api/v1/holders/me/polls", headers=second.headers).json()
    assert all(item["poll"]["id"] != poll["id"] or item["cards"] == [] for item in theirs["items"])

    results = close_poll(client, clock, poll)
    assert (results["electorate"], results["votes_cast"]) == (2, 2)
    assert [o["votes"] for o in results["options"]] == [2, 0, 0]


def test_a_vote_can_be_changed_until_the_close_when_the_poll_allows(client: TestClient, clock: Clock) -> None:
    runtime = runtime_of(client)
    drop_id, contract = card_drop(runtime)
    holder = voter(runtime)
    card = give_card(runtime, drop_id, contract, 1, holder.address)
    poll = scheduled_poll(client, clock, series=[drop_id], allow_change=True)
    assert vote(client, holder, poll, 1, card).json()["error"]["code"] == "poll_not_open"
    open_poll(client, clock, poll)

    first = vote(client, holder, poll, 1, card).json()["votes"][0]
    second = vote(client, holder, poll, 3, card).json()["votes"][0]
    assert (first["changes"], second["changes"], second["position"]) == (0, 1, 3)
    assert first["receipt"] != second["receipt"]
    with runtime.sessions() as session:
        rows = session.scalars(select(PollVote).where(PollVote.poll_id == poll["id"])).all()
        assert [(row.receipt, row.changes) for row in rows] == [(second["receipt"], 1)]

    clock.at(datetime.fromisoformat(poll["closes_at"]))
    late = vote(client, holder, poll, 2, card)
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "poll_not_open"
    results = close_poll(client, clock, poll)
    assert [o["votes"] for o in results["options"]] == [0, 0, 1]


def test_a_vote_is_final_when_the_poll_says_so(client: TestClient, clock: Clock) -> None:
    runtime = runtime_of(client)
    drop_id, contract = card_drop(runtime)
    holder = voter(runtime)
    one, two = (give_card(runtime, drop_id, contract, n, holder.address) for n in (1, 2))
    poll = scheduled_poll(client, clock, series=[drop_id], allow_change=False)
    open_poll(client, clock, poll)
    assert vote(client, holder, poll, 2, one).status_code == 201
    again = vote(client, holder, poll, 1, one, two)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "vote_final"
    with runtime.sessions() as session:  # all or nothing: card two did not vote either
        count = session.scalar(select(func.count()).select_from(PollVote).where(PollVote.poll_id == poll["id"]))
    assert count == 1
    assert vote(client, holder, poll, 1, two).status_code == 201


def test_revoked_cards_do_not_vote(client: TestClient, clock: Clock) -> None:
    runtime = runtime_of(client)
    drop_id, contract = card_drop(runtime)
    holder = voter(runtime)
    before = give_card(runtime, drop_id, contract, 1, holder.address)
    voted_then_revoked = give_card(runtime, drop_id, contract, 2, holder.address)
    revoked_unvoted = give_card(runtime, drop_id, contract, 3, holder.address)
    counted = give_card(runtime, drop_id, contract, 4, holder.address)
    revoke(runtime, before)  # refunded before the opening: not in the electorate
    poll = scheduled_poll(client, clock, series=[drop_id], quorum_percent=50)
    assert open_poll(client, clock, poll)["electorate"] == 3

    assert vote(client, holder, poll, 1, voted_then_revoked, counted).status_code == 201
    revoke(runtime, voted_then_revoked)
    revoke(runtime, revoked_unvoted)
    refused = vote(client, holder, poll, 2, revoked_unvoted)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "not_eligible"

    results = close_poll(client, clock, poll)
    assert (results["electorate"], results["revoked_excluded"], results["eligible"]) == (3, 2, 1)
    assert (results["votes_cast"], results["turnout_percent"], results["quorum_met"]) == (1, 100.0, True)
    assert [o["votes"] for o in results["options"]] == [1, 0, 0]
    ballots = client.get(f"/api/v1/polls/{poll['id']}/ballots.txt").text
    assert f"{contract}:4 choice=1" in ballots
    assert f"{contract}:2 " not in ballots
    with runtime.sessions() as session:
        excluded = session.scalars(
            select(PollElector.token_id).where(PollElector.poll_id == poll["id"], PollElector.excluded)
        ).all()
    assert sorted(excluded) == [2, 3]


# ── results, ballot file, recount ───────────────────────────────────────────


def system_python() -> str:
    """The machine's python3, outside the virtualenv: the script must need nothing installed."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if Path(candidate).exists():
            return candidate
    found = shutil.which("python3")
    assert found is not None
    return found


def recount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [system_python(), "-I", str(RECOUNT), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_results_and_ballot_file_recount_with_the_script(client: TestClient, clock: Clock, tmp_path: Path) -> None:
    runtime = runtime_of(client)
    drop_id, contract = card_drop(runtime)
    holders = [voter(runtime) for _ in range(3)]
    cards = [give_card(runtime, drop_id, contract, n + 1, holders[n % 3].address) for n in range(7)]
    poll = scheduled_poll(client, clock, series=[drop_id], quorum_percent=60)
    assert client.get(f"/api/v1/polls/{poll['id']}/results").json()["error"]["code"] == "poll_not_closed"
    open_poll(client, clock, poll)
    assert client.get(f"/api/v1/polls/{poll['id']}/ballots.txt").status_code == 409
    receipts = {}
    for n, card in enumerate(cards[:5]):
        answer = vote(client, holders[n % 3], poll, 1 + n % 2, card)
        assert answer.status_code == 201, answer.text
        receipts[card.token_id] = answer.json()["votes"][0]

    results = close_poll(client, clock, poll)
    assert (results["votes_cast"], results["electorate"], results["eligible"]) == (5, 7, 7)
    assert [o["votes"] for o in results["options"]] == [3, 2, 0]
    assert results["turnout_percent"] == round(500 / 7, 2)
    assert results["quorum_met"] is True  # 5 of 7 ≥ 60 %
    assert results["algorithm"] == "furusato-ballots-1"
    listed = client.get("/api/v1/polls", params={"municipality": TOWN, "limit": 100}).json()
    assert any(item["id"] == poll["id"] and item["status"] == "closed" for item in listed["items"])

    ballots = client.get(f"/api/v1/polls/{poll['id']}/ballots.txt")
    assert ballots.headers["content-type"].startswith("text/plain")
    ballots_file, results_file = tmp_path / "ballots.txt", tmp_path / "results.json"
    ballots_file.write_bytes(ballots.content)
    results_file.write_text(json.dumps(results))
    mine = receipts[3]
    checked = recount(
        str(ballots_file),
        "--results",
        str(results_file),
        "--receipt",
        mine["receipt"],
        "--nonce",
        mine["receipt_nonce"],
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "1. 駅前 / By the station: 3" in checked.stdout
    assert f"card {contract}:3, choice 1" in checked.stdout
    assert results["ballots_head"] in checked.stdout

    lines = ballots.text.split("\n")
    line = next(n for n, text in enumerate(lines) if text.startswith(f"card={contract}:2 "))
    lines[line] = lines[line].replace("choice=2", "choice=1")
    ballots_file.write_text("\n".join(lines))
    tampered = recount(str(ballots_file), "--results", str(results_file))
    assert tampered.returncode == 1
    assert f"line {line + 1}" in tampered.stdout

    # A later vote does not change a closed poll's file.
    assert vote(client, holders[0], poll, 1, cards[6]).json()["error"]["code"] == "poll_not_open"
    assert client.get(f"/api/v1/polls/{poll['id']}/ballots.txt").content == ballots.content


def test_real_minted_cards_vote(client: TestClient, clock: Clock, tmp_path: Path) -> None:
    """Cards bought through the demo checkout, minted on the chain and seen by the indexer."""
    from tests.holders.conftest import order_card, pay, wait_for, wait_minted

    runtime = runtime_of(client)
    runtime.start_worker()  # mint worker, indexer, and the polls' own clock loop (real time)
    holder = voter(runtime)
    order_id, token = order_card(client, holder.email)
    pay(client, order_id, token)
    minted = wait_minted(client, order_id, token)
    contract, token_id = minted["contract"], minted["token_ids"][0]

    def indexed() -> bool:
        with runtime.sessions() as session:
            from minting.store import TokenOwnerRow

            row = session.get(TokenOwnerRow, (runtime.manifest.chain_id, contract, token_id))
            return row is not None

    wait_for(indexed, what="the indexer to see the mint")
    poll = scheduled_poll(client, clock, series=[1])
    opened = open_poll(client, clock, poll)
    assert opened["electorate"] >= 1
    assert opened["frozen_block"] is not None
    cast = client.post(
        f"/api/v1/polls/{poll['id']}/votes",
        json={"option_id": poll["options"][1]["id"], "cards": [{"contract": contract.lower(), "token_id": token_id}]},
        headers=holder.headers,
    )
    assert cast.status_code == 201, cast.text
    results = close_poll(client, clock, poll)
    assert results["votes_cast"] == 1
    assert [o["votes"] for o in results["options"]] == [0, 1, 0]
    (tmp_path / "b.txt").write_bytes(client.get(f"/api/v1/polls/{poll['id']}/ballots.txt").content)
    (tmp_path / "r.json").write_text(json.dumps(results))
    assert recount(str(tmp_path / "b.txt"), "--results", str(tmp_path / "r.json")).returncode == 0
    assert utcnow() < datetime.fromisoformat(poll["opens_at"])  # the real clock never got there


def test_votes_are_rate_limited_per_holder(client: TestClient, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """A script cannot flip a vote without end: past the window's limit, 429 with Retry-After,
    and the vote stands as it was."""
    from backend.polls import polls_router

    monkeypatch.setattr(polls_router, "VOTE_LIMIT", (2, 600))
    runtime = runtime_of(client)
    drop_id, contract = card_drop(runtime)
    holder = voter(runtime)
    card = give_card(runtime, drop_id, contract, 1, holder.address)
    poll = open_poll(client, clock, scheduled_poll(client, clock, series=[drop_id]))
    assert vote(client, holder, poll, 1, card).status_code == 201
    assert vote(client, holder, poll, 2, card).status_code == 201
    refused = vote(client, holder, poll, 1, card)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0
    with runtime.sessions() as session:
        kept = session.scalars(select(PollVote).where(PollVote.poll_id == poll["id"])).one()
    position = {o["id"]: o["position"] for o in poll["options"]}[kept.option_id]
    assert position == 2
