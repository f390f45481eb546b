"""The event indexer: owners and transfers on eth-tester, restarts, idempotence; a real reorg on anvil."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from backend.core.db import make_engine, make_session_factory, migrate
from minting.anvil import AnvilNode
from minting.chains import Chain, connect
from minting.compiler import CompiledTree
from minting.errors import ReorgTooDeep
from minting.indexer import Indexer, owner_of, purchases, tokens_of
from minting.resident_card import ResidentCardClient, mint_batch_gas
from minting.signing import Voucher, sign_voucher
from minting.store import IndexerCursorRow, TokenTransferRow

ZERO = "0x0000000000000000000000000000000000000000"


@dataclass
class World:
    chain: Chain
    engine: Engine
    sessions: sessionmaker[Session]
    card: ResidentCardClient
    admin: LocalAccount
    people: list[LocalAccount]

    @property
    def w3(self) -> Web3:
        return self.chain.w3

    def indexer(self, **options: Any) -> Indexer:
        return Indexer(self.sessions, self.w3, [self.card.address], self.card.contract.abi, name="cards", **options)

    def owner(self, token_id: int) -> str | None:
        with self.sessions() as session:
            return owner_of(session, self.chain.chain_id, self.card.address, token_id)

    def tokens(self, holder: LocalAccount) -> list[int]:
        with self.sessions() as session:
            return tokens_of(session, self.chain.chain_id, self.card.address, holder.address)

    def transfers(self) -> list[tuple[int, str, str]]:
        """Stored transfers as (token id, from, to), in chain order."""
        with self.sessions() as session:
            rows = session.execute(
                select(TokenTransferRow.token_id, TokenTransferRow.from_address, TokenTransferRow.to_address).order_by(
                    TokenTransferRow.block_number, TokenTransferRow.log_index
                )
            )
            return [(int(token_id), sender, recipient) for token_id, sender, recipient in rows]

    def cursor(self) -> tuple[int, str]:
        with self.sessions() as session:
            row = session.get(IndexerCursorRow, "cards")
            assert row is not None
            return row.block_number, row.block_hash


def _world(chain: Chain, compiled: CompiledTree, database_url: str) -> World:
    engine = make_engine(database_url)
    migrate(engine)
    admin, *people = chain.dev_accounts()
    card, _ = ResidentCardClient.deploy(chain.w3, compiled["ResidentCard"], admin, name="C", symbol="C")
    card.add_series(1, 1000)
    return World(chain, engine, make_session_factory(engine), card, admin, people)


@pytest.fixture
def world(compiled: CompiledTree, tmp_path: Path) -> Iterator[World]:
    with connect("eth-tester://") as chain:
        built = _world(chain, compiled, f"sqlite:///{tmp_path}/indexer.db")
        yield built
        built.engine.dispose()


# ── eth-tester ──────────────────────────────────────────────────────────────


@pytest.mark.chain
def test_step_indexes_mints_and_transfers(world: World) -> None:
    alice, bob, carol = world.people[:3]
    world.card.mint_batch([alice.address, alice.address, bob.address], [1, 2, 3])
    world.card.as_account(alice).transfer_from(alice.address, carol.address, 1)

    step = world.indexer().step()

    assert (step.from_block, step.to_block, step.transfers, step.reorg) == (0, world.w3.eth.block_number, 4, False)
    assert step.caught_up
    assert world.transfers() == [
        (1, ZERO, alice.address),
        (2, ZERO, alice.address),
        (3, ZERO, bob.address),
        (1, alice.address, carol.address),
    ]
    assert [world.owner(token_id) for token_id in (1, 2, 3, 4)] == [carol.address, alice.address, bob.address, None]
    assert (world.tokens(alice), world.tokens(bob), world.tokens(carol)) == ([2], [3], [1])
    assert world.cursor() == (step.to_block, world.w3.eth.get_block(step.to_block)["hash"].to_0x_hex())


@pytest.mark.chain
def test_restarted_indexer_resumes_from_its_cursor(world: World) -> None:
    alice, bob = world.people[:2]
    world.card.mint_batch([alice.address], [1])
    first = world.indexer(reorg_depth=3).step()
    world.card.mint_batch([bob.address], [2])
    world.card.as_account(alice).transfer_from(alice.address, bob.address, 1)

    again = world.indexer(reorg_depth=3).step()  # a new object on the same database: a restart

    assert again.from_block == first.to_block - 3 + 1
    assert (again.transfers, again.reorg) == (2, False)
    assert [token_id for token_id, _, _ in world.transfers()] == [1, 2, 1]
    assert world.tokens(bob) == [1, 2]
    assert world.indexer().step().transfers == 0


@pytest.mark.chain
def test_reapplying_the_same_logs_never_duplicates(world: World) -> None:
    alice = world.people[0]
    world.card.mint_batch([alice.address] * 3, [1, 2, 3])
    world.indexer().step()
    before = world.transfers()
    with world.sessions.begin() as session:  # a lost cursor: every log is read and applied again
        session.delete(session.get(IndexerCursorRow, "cards"))

    step = world.indexer().step()

    assert (step.transfers, step.reorg) == (0, False)
    assert world.transfers() == before
    assert world.tokens(alice) == [1, 2, 3]


@pytest.mark.chain
def test_steps_are_bounded_and_catch_up_reaches_the_head(world: World) -> None:
    alice = world.people[0]
    for token_id in range(1, 6):
        world.card.mint_batch([alice.address], [token_id])
    indexer = world.indexer(max_blocks_per_step=2, reorg_depth=2)

    steps = indexer.catch_up()

    assert all(step.to_block - step.from_block <= 2 + 2 - 1 for step in steps)  # window + new blocks
    assert steps[-1].caught_up
    assert not steps[-2].caught_up
    assert sum(step.transfers for step in steps) == 5
    assert world.tokens(alice) == [1, 2, 3, 4, 5]


@pytest.mark.chain
def test_start_block_skips_earlier_history(world: World) -> None:
    alice, bob = world.people[:2]
    world.card.mint_batch([alice.address], [1])
    start = world.w3.eth.block_number + 1
    world.card.mint_batch([bob.address], [2])

    world.indexer(start_block=start).step()

    assert world.transfers() == [(2, ZERO, bob.address)]


@pytest.mark.chain
def test_changed_cursor_hash_replaces_the_window(world: World) -> None:
    alice, bob = world.people[:2]
    world.card.mint_batch([alice.address], [1])
    world.indexer().step()
    with world.sessions.begin() as session:  # what a reorg looks like to the indexer: stale rows
        session.execute(update(IndexerCursorRow).values(block_hash="0x" + "11" * 32))
        session.add(
            TokenTransferRow(
                chain_id=world.chain.chain_id,
                contract=world.card.address,
                token_id=9,
                from_address=ZERO,
                to_address=bob.address,
                block_number=world.w3.eth.block_number,
                block_hash="0x" + "22" * 32,
                tx_hash="0x" + "33" * 32,
                log_index=0,
            )
        )

    step = world.indexer().step()

    assert step.reorg
    assert world.transfers() == [(1, ZERO, alice.address)]
    assert world.tokens(alice) == [1]
    assert world.owner(9) is None


@pytest.mark.chain
def test_stale_transfer_hash_alone_is_a_reorg(world: World) -> None:
    world.card.mint_batch([world.people[0].address], [1])
    world.indexer().step()
    with world.sessions.begin() as session:
        session.execute(update(TokenTransferRow).values(block_hash="0x" + "44" * 32))

    assert world.indexer().step().reorg
    with world.sessions() as session:
        hashes = session.scalars(select(TokenTransferRow.block_hash)).all()
    assert hashes == [world.w3.eth.get_block(world.w3.eth.block_number)["hash"].to_0x_hex()]


@pytest.mark.chain
def test_reorg_below_the_window_is_refused(world: World) -> None:
    world.card.mint_batch([world.people[0].address], [1])
    for series in range(4):
        world.card.add_series(1001 + series * 10, 1010 + series * 10)  # blocks without transfers
    world.indexer(reorg_depth=2).step()
    with world.sessions.begin() as session:
        session.execute(update(TokenTransferRow).values(block_hash="0x" + "55" * 32))
        session.execute(update(IndexerCursorRow).values(block_hash="0x" + "66" * 32))

    with pytest.raises(ReorgTooDeep, match="reorg_depth=2"):
        world.indexer(reorg_depth=2).step()


@pytest.mark.chain
def test_purchases_are_transfers_from_zero_with_details_from_the_logs(world: World) -> None:
    buyer = world.people[0]
    world.card.add_series(2000, 2010, price_wei=10**16)
    deadline = int(world.w3.eth.get_block("latest")["timestamp"]) + 3600
    voucher = Voucher(buyer.address, 2001, 10**16, deadline, Web3.keccak(text="order-1"))
    world.card.as_account(buyer).purchase(voucher, sign_voucher(world.admin, world.card.domain(), voucher))

    world.indexer().step()

    assert world.transfers() == [(2001, ZERO, buyer.address)]
    (purchase,) = purchases(world.w3, world.card.address, world.card.contract.abi, 0)
    assert (purchase.buyer, purchase.token_id, purchase.series_id, purchase.price) == (buyer.address, 2001, 1, 10**16)
    assert purchase.order_ref == Web3.keccak(text="order-1").to_0x_hex()


# ── anvil: a real reorg ─────────────────────────────────────────────────────


def _count_transfers(world: World) -> int:
    with world.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(TokenTransferRow)) or 0)


@pytest.mark.anvil
def test_anvil_reorg_replaces_indexed_blocks(compiled: CompiledTree, tmp_path: Path) -> None:
    with AnvilNode(tmp_path / "anvil") as node, connect(node.url) as chain:
        world = _world(chain, compiled, f"sqlite:///{tmp_path}/indexer.db")
        alice, bob, carol = world.people[:3]
        world.card.mint_batch([alice.address, alice.address], [1, 2])  # block N-1
        world.card.as_account(alice).transfer_from(alice.address, bob.address, 1)  # block N
        indexer = world.indexer(reorg_depth=4)
        indexer.step()
        assert (world.tokens(alice), world.tokens(bob)) == ([2], [1])
        height = chain.w3.eth.block_number

        # Replace blocks N-1 and N: the mint of 7 to carol lands in the first, the second is empty.
        data = world.card.contract.encode_abi("mintBatch", args=[[carol.address], [7]])
        replacement = {"from": world.admin.address, "to": world.card.address, "data": data, "gas": mint_batch_gas(1)}
        chain.w3.provider.make_request("anvil_reorg", [2, [[replacement, 0]]])  # type: ignore[arg-type]
        assert chain.w3.eth.block_number == height

        step = indexer.step()

        assert step.reorg
        assert world.transfers() == [(7, ZERO, carol.address)]
        assert [world.owner(token_id) for token_id in (1, 2, 7)] == [None, None, carol.address]
        assert world.card.owner_of(7) == carol.address
        assert not world.card.exists(1)
        assert world.cursor()[1] == chain.w3.eth.get_block(height)["hash"].to_0x_hex()
        assert indexer.step().reorg is False
        assert _count_transfers(world) == 1
        world.engine.dispose()


@pytest.mark.anvil
def test_anvil_revert_to_a_shorter_chain_then_new_blocks(compiled: CompiledTree, tmp_path: Path) -> None:
    with AnvilNode(tmp_path / "anvil") as node, connect(node.url) as chain:
        world = _world(chain, compiled, f"sqlite:///{tmp_path}/indexer.db")
        alice, bob = world.people[:2]
        snapshot = chain.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
        world.card.mint_batch([alice.address], [1])
        world.card.mint_batch([alice.address], [2])
        indexer = world.indexer(reorg_depth=4)
        indexer.step()
        assert world.tokens(alice) == [1, 2]

        chain.w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]
        world.card.mint_batch([bob.address], [3])  # one block where there were two

        step = indexer.step()

        assert step.reorg
        assert step.to_block == chain.w3.eth.block_number
        assert (world.tokens(alice), world.tokens(bob)) == ([], [3])
        assert world.transfers() == [(3, ZERO, bob.address)]
        world.engine.dispose()
