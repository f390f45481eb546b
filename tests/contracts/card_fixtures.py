"""Resident card fixtures on eth-tester: a deployed card, its admin and some holders."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_account.signers.local import LocalAccount

from minting.chains import Chain, connect
from minting.compiler import CompiledTree
from minting.resident_card import ResidentCardClient


@dataclass
class CardWorld:
    """A card contract on a fresh chain; `admin` holds every role."""

    chain: Chain
    card: ResidentCardClient
    admin: LocalAccount
    people: list[LocalAccount]

    def now(self) -> int:
        return int(self.chain.w3.eth.get_block("latest")["timestamp"])

    def travel_to(self, timestamp: int) -> None:
        """Make the next block's timestamp `timestamp` (eth-tester)."""
        tester = self.chain.w3.provider.ethereum_tester  # type: ignore[attr-defined]
        tester.time_travel(timestamp)

    def as_person(self, index: int) -> ResidentCardClient:
        return self.card.as_account(self.people[index])


@pytest.fixture
def card_world(compiled: CompiledTree) -> Iterator[CardWorld]:
    with connect("eth-tester://") as chain:
        admin, *people = chain.dev_accounts()
        card, _ = ResidentCardClient.deploy(
            chain.w3,
            compiled["ResidentCard"],
            admin,
            name="西川町デジタル住民票",
            symbol="NISHIKAWA",
            base_uri="https://town.example/api/v1/tokens/",
        )
        yield CardWorld(chain, card, admin, people)
