"""Claims on PostgreSQL, where transactions really run side by side: twenty threads claiming
four drafts of one town's contract at the same instant claim each drop once, and the four id
ranges they choose never overlap (the town's row lock orders them)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from eth_account import Account
from sqlalchemy.orm import Session, sessionmaker

from backend.core.db import make_engine, make_session_factory, migrate, session_scope
from backend.sales import publish as publish_module
from backend.sales.models import Drop
from backend.sales.publish import Publisher
from backend.towns.models import Municipality
from minting.chains import Chain

pytestmark = [pytest.mark.postgres, pytest.mark.chain]

CONTRACT = "0x" + "c0" * 20
THREADS = 20
DROPS = 4


@pytest.fixture
def sessions(postgres_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(postgres_url)
    migrate(engine)
    yield make_session_factory(engine)
    engine.dispose()


def drafts(sessions: sessionmaker[Session], chain_id: int) -> list[int]:
    with session_scope(sessions) as session:
        town = Municipality(slug="kawabe", name_ja="川辺町", name_en="Kawabe Town", prefecture="06")
        session.add(town)
        session.flush()
        rows = [
            Drop(
                municipality_id=town.id,
                status="draft",
                title_ja=f"第{n}期",
                title_en=f"Issue {n}",
                price_jpy=1_000,
                price_wei=0,
                supply=10 * (n + 1),
                reserved=0,
                per_buyer_limit=1,
                starts_at=datetime(2026, 1, 1, tzinfo=UTC),
                chain_id=chain_id,
                contract=CONTRACT,
            )
            for n in range(DROPS)
        ]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def test_concurrent_claims_claim_each_drop_once_with_ranges_that_never_overlap(
    sessions: sessionmaker[Session], eth_tester_chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing on this contract on chain: every range comes from the database, under the lock.
    monkeypatch.setattr(publish_module, "chain_next_id", lambda _card: 1)
    publisher = Publisher(sessions, eth_tester_chain, Account.create())
    ids = drafts(sessions, eth_tester_chain.chain_id)
    start = threading.Barrier(THREADS)
    claimed: list[int] = []
    failures: list[BaseException] = []

    def claim(drop_id: int) -> None:
        try:
            start.wait(timeout=30)
            with session_scope(sessions) as session:
                drop = session.get(Drop, drop_id)
                assert drop is not None
                if publisher.claim(session, drop, CONTRACT):
                    claimed.append(drop_id)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=claim, args=(ids[n % DROPS],)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    assert sorted(claimed) == ids
    with sessions() as session:
        drops = [session.get(Drop, drop_id) for drop_id in ids]
    ranges = sorted(
        (int(d.first_token_id), int(d.first_token_id) + d.supply - 1) for d in drops if d and d.first_token_id
    )
    assert len(ranges) == DROPS
    assert ranges[0][0] == 1
    assert all(end < start for (_first, end), (start, _last) in itertools.pairwise(ranges))
    assert {drop.status for drop in drops if drop} == {"publishing"}
