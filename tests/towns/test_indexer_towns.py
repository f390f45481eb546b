"""The indexer over a growing set of contracts (a town added while it runs): a group that
appears later is read from its own deployment block, not from where the others' cursor is,
and a group that fails does not hold the others back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from backend.core.db import make_engine, make_session_factory, migrate
from minting.chains import Chain, connect
from minting.compiler import CompiledTree
from minting.indexer import Followed, IndexerSet, owner_of
from minting.resident_card import ResidentCardClient
from minting.store import IndexerCursorRow

HOLDER = Web3.to_checksum_address("0x" + "cd" * 20)


@pytest.fixture
def chain() -> Iterator[Chain]:
    with connect("eth-tester://") as connected:
        yield connected


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path}/index.db")
    migrate(engine)
    yield make_session_factory(engine)
    engine.dispose()


def _card(chain: Chain, compiled: CompiledTree) -> tuple[ResidentCardClient, int]:
    card, receipt = ResidentCardClient.deploy(
        chain.w3, compiled["ResidentCard"], chain.dev_accounts()[0], name="T", symbol="T"
    )
    card.add_series(1, 100)
    return card, int(receipt["blockNumber"])


def test_a_group_added_later_is_read_from_its_deployment(
    chain: Chain, sessions: sessionmaker[Session], compiled: CompiledTree
) -> None:
    first, first_block = _card(chain, compiled)
    groups = [Followed("transfers-base", (first.address,), first_block)]
    indexers = IndexerSet(sessions, chain.w3, compiled["ResidentCard"].abi, lambda: list(groups))
    first.mint_batch([HOLDER], [1])
    second, second_block = _card(chain, compiled)
    second.mint_batch([HOLDER], [7])  # before the indexer knows the second contract
    indexers.catch_up()
    with sessions() as session:
        assert owner_of(session, chain.chain_id, first.address, 1) == HOLDER
        assert owner_of(session, chain.chain_id, second.address, 7) is None

    groups.append(Followed("transfers-town-1", (second.address,), second_block))  # the town is added
    indexers.catch_up()
    with sessions() as session:
        assert owner_of(session, chain.chain_id, second.address, 7) == HOLDER
        rows = session.execute(select(IndexerCursorRow.name, IndexerCursorRow.block_number)).all()
    cursors = {name: block for name, block in rows}
    head = chain.w3.eth.block_number
    assert cursors == {"transfers-base": head, "transfers-town-1": head}


def test_a_failing_group_does_not_stop_the_others(
    chain: Chain, sessions: sessionmaker[Session], compiled: CompiledTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, first_block = _card(chain, compiled)
    second, second_block = _card(chain, compiled)
    groups = [
        Followed("transfers-broken", (first.address,), first_block),
        Followed("transfers-town", (second.address,), second_block),
    ]
    indexers = IndexerSet(sessions, chain.w3, compiled["ResidentCard"].abi, lambda: groups)
    broken, working = indexers.indexers()

    def fail() -> None:
        raise RuntimeError("node hiccup")

    monkeypatch.setattr(broken, "step", fail)
    second.mint_batch([HOLDER], [3])
    with pytest.raises(RuntimeError, match="node hiccup"):
        indexers.step()
    assert indexers.indexers()[1] is working  # built once, kept
    with sessions() as session:
        assert owner_of(session, chain.chain_id, second.address, 3) == HOLDER
