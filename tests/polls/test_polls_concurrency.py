"""Votes at once on PostgreSQL (transactions really run side by side there) and on SQLite,
through the ASGI app from many threads: 200 holders voting together are each counted once; one card voted
many times at once ends as one row, its changes counted one by one, or — when the poll does
not allow changes — one vote and the rest refused `vote_final`; never a 500."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.app import create_app
from backend.core.config import Settings
from backend.polls.models import PollVote
from tests.polls.polls_world import (
    card_drop,
    close_poll,
    give_card,
    install_clock,
    open_poll,
    runtime_of,
    scheduled_poll,
    vote,
    voter,
)

pytestmark = pytest.mark.chain

VOTERS = 200
REVOTES = 30


def at_once(count: int, action: Callable[[int], Any]) -> list[Any]:
    """`action(0…count-1)` from `count` threads released together."""
    gate = threading.Barrier(count)

    def run(index: int) -> Any:
        gate.wait()
        return action(index)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_votes_at_once_are_each_counted_once(database: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    url = request.getfixturevalue("postgres_url") if database == "postgres" else ""
    settings = Settings(chain="eth-tester://", data_dir=tmp_path / "data", database_url=url)
    app = create_app(settings)
    with TestClient(app) as client:
        clock = install_clock(app)
        runtime = runtime_of(client)
        drop_id, contract = card_drop(runtime)
        voters = [voter(runtime) for _ in range(VOTERS)]
        cards = [give_card(runtime, drop_id, contract, n + 1, who.address) for n, who in enumerate(voters)]

        # 200 holders, one card each, all at once.
        poll = scheduled_poll(client, clock, series=[drop_id])
        assert open_poll(client, clock, poll)["electorate"] == VOTERS
        answers = at_once(VOTERS, lambda n: vote(client, voters[n], poll, 1 + n % 3, cards[n]))
        assert Counter(answer.status_code for answer in answers) == {201: VOTERS}
        results = close_poll(client, clock, poll)
        assert results["votes_cast"] == VOTERS
        assert [o["votes"] for o in results["options"]] == [67, 67, 66]
        ballots = client.get(f"/api/v1/polls/{poll['id']}/ballots.txt").text
        assert ballots.count("\ncard=") == VOTERS

        # One card voted 30 times at once, changes allowed: one row, changes counted in turn.
        holder, card = voters[0], cards[0]
        poll = scheduled_poll(client, clock, series=[drop_id], allow_change=True)
        open_poll(client, clock, poll)
        answers = at_once(REVOTES, lambda n: vote(client, holder, poll, 1 + n % 3, card))
        assert Counter(answer.status_code for answer in answers) == {201: REVOTES}
        votes = [answer.json()["votes"][0] for answer in answers]
        assert sorted(v["changes"] for v in votes) == list(range(REVOTES))
        with runtime.sessions() as session:
            rows = session.scalars(select(PollVote).where(PollVote.poll_id == poll["id"])).all()
        last = max(votes, key=lambda v: v["changes"])
        assert [(row.receipt, row.changes, row.option_id) for row in rows] == [
            (last["receipt"], REVOTES - 1, last["option_id"])
        ]

        # The same, changes not allowed: one vote, every other request refused.
        poll = scheduled_poll(client, clock, series=[drop_id], allow_change=False)
        open_poll(client, clock, poll)
        answers = at_once(REVOTES, lambda n: vote(client, holder, poll, 1 + n % 3, card))
        assert Counter(answer.status_code for answer in answers) == {201: 1, 409: REVOTES - 1}
        assert {answer.json()["error"]["code"] for answer in answers if answer.status_code == 409} == {"vote_final"}
        with runtime.sessions() as session:
            rows = session.scalars(select(PollVote).where(PollVote.poll_id == poll["id"])).all()
        assert len(rows) == 1
        assert rows[0].changes == 0
