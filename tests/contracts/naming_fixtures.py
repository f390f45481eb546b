"""Naming-rights test world: a fresh chain, the deployed contract, accounts, a clock, factories.

Test modules import the fixtures they use from here (not from a conftest), so they cannot
clash with other contract tests' fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from minting.chains import Chain, connect
from minting.compiler import REPO_ROOT, Artifact, CompiledTree, compile_contracts
from minting.naming_rights import LotConfig, NamingRightsClient
from minting.transactions import send_transaction

TEST_CONTRACTS_DIR = REPO_ROOT / "tests" / "solidity"
TEST_BUILD_DIR = REPO_ROOT / "build" / "test-contracts"

#: HostileBidder.Mode
REVERT, BURN_GAS, REENTER = 0, 1, 2
HOSTILE_MODES = {"reverts": REVERT, "burns-gas": BURN_GAS, "reenters": REENTER}

RESERVE = 10**15
INCREMENT = 10**14
AUCTION_SECONDS = 3_600
SOFT_CLOSE_WINDOW = 300
EXTENSION = 600
DAY = 86_400
#: Gas for set-up transactions that must succeed (skips eth-tester's slow estimate).
SETUP_GAS = 600_000
DEPLOY_GAS = 5_000_000


def travel_to(w3: Web3, timestamp: int) -> None:
    """Make the next block (so the next transaction and call) run at `timestamp`."""
    if timestamp > pending_timestamp(w3):
        w3.provider.ethereum_tester.time_travel(timestamp)  # type: ignore[attr-defined]


def pending_timestamp(w3: Web3) -> int:
    """The timestamp the next transaction will see (eth-tester mines one second apart)."""
    return int(w3.eth.get_block("pending")["timestamp"])


def lot_config(start: int, **overrides: Any) -> LotConfig:
    """A lot whose auction opens at `start` for an hour; its term starts a day after `start`."""
    config = LotConfig(
        park_id=7,
        default_name="西川町中央公園",
        term_start=start + DAY,
        term_end=start + 366 * DAY,
        auction_start=start,
        auction_end=start + AUCTION_SECONDS,
        reserve=RESERVE,
        min_increment=INCREMENT,
        soft_close_window=SOFT_CLOSE_WINDOW,
        extension=EXTENSION,
    )
    return replace(config, **overrides)


def deploy_artifact(w3: Web3, artifact: Artifact, deployer: LocalAccount, *args: Any) -> Contract:
    """Deploy a test contract (fixed gas: eth-tester's estimate of a deployment is slow)."""
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    tx = factory.constructor(*args).build_transaction({"from": deployer.address, "gas": DEPLOY_GAS})
    receipt = send_transaction(w3, deployer, tx)
    assert receipt["contractAddress"] is not None
    return w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)


def transact(w3: Web3, account: LocalAccount, function: Any, *, value: int = 0, gas: int | None = None) -> None:
    """Send a call to a test contract (no decoded reverts: test contracts are expected to work)."""
    params: dict[str, Any] = {"from": account.address, "value": value}
    if gas is not None:
        params["gas"] = gas
    send_transaction(w3, account, function.build_transaction(params))


@dataclass
class NamingWorld:
    """Everything a naming-rights test needs, on one fresh eth-tester chain."""

    chain: Chain
    admin: LocalAccount
    treasury: LocalAccount
    bidders: list[LocalAccount]
    client: NamingRightsClient  # signed by admin
    test_artifacts: CompiledTree

    @property
    def w3(self) -> Web3:
        return self.chain.w3

    def now(self) -> int:
        return pending_timestamp(self.w3)

    def travel_to(self, timestamp: int) -> None:
        travel_to(self.w3, timestamp)

    def as_(self, account: LocalAccount) -> NamingRightsClient:
        return self.client.as_account(account)

    def create_lot(self, **overrides: Any) -> int:
        """A lot whose auction opens now (see `lot_config`); returns its id."""
        return self.client.create_lot(lot_config(self.now(), **overrides), gas=SETUP_GAS).lot_id

    def won_lot(self, winner: LocalAccount, amount: int = RESERVE) -> int:
        """A lot bid on by `winner` alone, settled; the clock is left at the auction's end."""
        lot_id = self.create_lot()
        self.as_(winner).bid(lot_id, amount, gas=SETUP_GAS)
        self.travel_to(self.client.lot(lot_id).auction_end)
        self.client.settle(lot_id, gas=SETUP_GAS)
        return lot_id

    def awarded_lot(self, winner: LocalAccount) -> int:
        """A lot awarded off-chain to `winner` (the cheapest way to a primary winner)."""
        lot_id = self.create_lot()
        self.client.award_offchain(lot_id, winner.address, gas=SETUP_GAS)
        return lot_id

    def hostile(self, mode: int) -> Contract:
        return deploy_artifact(self.w3, self.test_artifacts["HostileBidder"], self.admin, self.client.address, mode)


def naming_test_artifacts() -> CompiledTree:
    """tests/solidity compiled (cached in build/test-contracts)."""
    return compile_contracts(TEST_CONTRACTS_DIR, TEST_BUILD_DIR)


def build_world(compiled: CompiledTree, test_artifacts: CompiledTree, chain: Chain) -> NamingWorld:
    accounts = chain.dev_accounts()
    admin, treasury = accounts[0], accounts[9]
    client, _ = NamingRightsClient.deploy(
        chain.w3,
        compiled["NamingRights"],
        admin,
        treasury=treasury.address,
        base_uri="https://town.example/t/",
        gas=DEPLOY_GAS,
    )
    return NamingWorld(
        chain=chain,
        admin=admin,
        treasury=treasury,
        bidders=accounts[1:9],
        client=client,
        test_artifacts=test_artifacts,
    )


# Fixture functions carry a `_fixture` suffix and are registered under their `naming_*` name,
# so test modules can import them without the parameter shadowing the import.


@pytest.fixture(scope="session", name="naming_artifacts")
def naming_artifacts_fixture() -> CompiledTree:
    return naming_test_artifacts()


@pytest.fixture(scope="module", name="naming_deployment")
def naming_deployment_fixture(
    compiled: CompiledTree, naming_artifacts: CompiledTree
) -> Iterator[tuple[NamingWorld, int, int]]:
    """One chain and deployment per module, and the snapshot taken right after it."""
    with connect("eth-tester://") as chain:
        world = build_world(compiled, naming_artifacts, chain)
        start = world.now() + DAY
        yield world, world.w3.provider.ethereum_tester.take_snapshot(), start  # type: ignore[attr-defined]


@pytest.fixture(name="naming")
def naming_fixture(naming_deployment: tuple[NamingWorld, int, int]) -> NamingWorld:
    """The freshly deployed contract: the chain is rewound to the deployment snapshot, and the
    clock set a day ahead of it, so every test starts at the same time, ahead of the wall clock
    (eth-tester then mines exactly one second apart)."""
    world, snapshot, start = naming_deployment
    world.w3.provider.ethereum_tester.revert_to_snapshot(snapshot)  # type: ignore[attr-defined]
    world.travel_to(start)
    return world
