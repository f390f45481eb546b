"""Mint pipeline fixtures: a migrated database, a chain, a card with a series, a sender."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from backend.core.db import make_engine, make_session_factory, migrate
from minting.chains import Chain, connect
from minting.compiler import CompiledTree
from minting.jobs import NewJob, enqueue
from minting.resident_card import ResidentCardClient
from minting.sender import MintSender, SenderConfig


@dataclass
class Pipeline:
    chain: Chain
    engine: Engine
    sessions: sessionmaker[Session]
    card: ResidentCardClient
    minter: LocalAccount

    def enqueue(self, count: int, start: int = 1, prefix: str = "order") -> list[NewJob]:
        jobs = [
            NewJob(f"{prefix}-{token_id}", self.card.address, token_id, recipient_for(token_id))
            for token_id in range(start, start + count)
        ]
        with self.sessions.begin() as session:
            enqueue(session, self.chain.chain_id, jobs)
        return jobs

    def sender(self, **config: object) -> MintSender:
        """A sender for this pipeline; partial batches leave at once unless the test says otherwise."""
        config.setdefault("batch_wait_seconds", 0)
        return MintSender(self.sessions, self.chain.w3, self.minter, self.card.contract.abi, SenderConfig(**config))  # type: ignore[arg-type]


def recipient_for(token_id: int) -> str:
    """A distinct fresh address per token, derived from its id (so tests can check owners)."""
    return Web3.to_checksum_address(Web3.keccak(text=f"holder-{token_id}")[-20:])


def build_pipeline(chain: Chain, compiled: CompiledTree, database_url: str) -> Pipeline:
    engine = make_engine(database_url)
    migrate(engine)
    minter = chain.dev_accounts()[0]
    card, _ = ResidentCardClient.deploy(chain.w3, compiled["ResidentCard"], minter, name="C", symbol="C")
    card.add_series(1, 1_000_000)
    return Pipeline(chain, engine, make_session_factory(engine), card, minter)


@pytest.fixture
def pipeline(compiled: CompiledTree, tmp_path: Path) -> Iterator[Pipeline]:
    with connect("eth-tester://") as chain:
        built = build_pipeline(chain, compiled, f"sqlite:///{tmp_path}/pipeline.db")
        yield built
        built.engine.dispose()
