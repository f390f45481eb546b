"""Adding a town on eth-tester: its own contracts, named for it and configured, deployed
exactly once even when the run is cut short at any step and run again."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from backend.core.db import make_engine, make_session_factory, migrate
from backend.core.models import AuditEntry
from backend.towns.contracts import TownNotReady, card_contract_of, rights_contract_of, towns_with_own_contracts
from backend.towns.models import Municipality
from backend.towns.registry import AddedTown, Deployer, NewTown, TownError, add_town, card_name, card_symbol
from minting import failpoints
from minting.chains import Chain, connect
from minting.client import role_id
from minting.compiler import CompiledTree
from minting.deploy import DeployedContract, Manifest
from minting.naming_rights import NamingRightsClient
from minting.once import OnceSender
from minting.resident_card import ResidentCardClient
from minting.store import OnceAttemptRow, OnceTxRow

PUBLIC_URL = "https://furusato.example"
TREASURY = Web3.to_checksum_address("0x" + "ab" * 20)


class Crash(BaseException):
    """Stands for SIGKILL at a failpoint."""


@dataclass
class Setup:
    chain: Chain
    sessions: sessionmaker[Session]
    compiled: CompiledTree

    def deployer(self, grants: tuple[tuple[str, str], ...] = ()) -> Deployer:
        sender = OnceSender(self.sessions, self.chain.w3, self.chain.dev_accounts()[0])
        return Deployer(sender, lambda: self.compiled, PUBLIC_URL, grants)

    def add(self, new: NewTown | None = None, **options: Any) -> AddedTown:
        town = new or NewTown("sakura-town", "桜町", "Sakura Town", "06", treasury=TREASURY)
        return add_town(self.sessions, self.deployer(**options), town, actor="cli:test")

    def nonce(self) -> int:
        return int(self.chain.w3.eth.get_transaction_count(self.chain.dev_accounts()[0].address))

    def town(self, slug: str = "sakura-town") -> Municipality:
        with self.sessions() as session:
            town = session.scalar(select(Municipality).where(Municipality.slug == slug))
            assert town is not None
            return town


@pytest.fixture
def setup(compiled: CompiledTree, tmp_path: Path) -> Iterator[Setup]:
    engine = make_engine(f"sqlite:///{tmp_path}/towns.db")
    migrate(engine)
    with connect("eth-tester://") as chain:
        yield Setup(chain, make_session_factory(engine), compiled)
    engine.dispose()


def test_a_town_gets_its_own_named_and_configured_contracts(setup: Setup) -> None:
    before = setup.nonce()
    added = setup.add()
    assert not added.resumed
    assert setup.nonce() == before + 4  # two deployments, two base URIs (the deployer holds every role)
    card = ResidentCardClient.at(setup.chain.w3, setup.compiled["ResidentCard"], added.card_contract)
    assert card.contract.functions.name().call() == "Sakura Town Resident Card"
    assert card.contract.functions.symbol().call() == "SAKURATOWN"
    assert card.treasury() == TREASURY
    assert card.royalty_info(1, 10_000) == (card.treasury(), 500)
    card.as_account(setup.chain.dev_accounts()[0]).add_series(1, 10)
    card.as_account(setup.chain.dev_accounts()[0]).mint_batch([TREASURY], [1])
    assert card.token_uri(1) == f"{PUBLIC_URL}/api/v1/tokens/{card.address}/1"
    rights = NamingRightsClient.at(setup.chain.w3, setup.compiled["NamingRights"], added.rights_contract)
    assert rights.contract.functions.name().call() == "Sakura Town Park Naming Rights"
    assert rights.contract.functions.symbol().call() == "SAKURATOWN-NAME"
    town = setup.town()
    assert (town.contracts_state, town.card_contract, town.rights_contract) == (
        "ready",
        card.address,
        rights.address,
    )
    assert town.treasury == town.royalty_receiver == card.treasury()
    assert (town.name_ja, town.prefecture, town.royalty_bps) == ("桜町", "06", 500)
    with setup.sessions() as session:
        (entry,) = session.scalars(select(AuditEntry).where(AuditEntry.action == "town.add")).all()
        assert entry.municipality_id == town.id
        assert entry.actor == "cli:test"


def test_a_taken_slug_is_refused_and_nothing_is_sent(setup: Setup) -> None:
    setup.add()
    before = setup.nonce()
    with pytest.raises(TownError, match="slug 'sakura-town' is taken"):
        setup.add()
    assert setup.nonce() == before


@pytest.mark.parametrize("nth", range(1, 5))
@pytest.mark.parametrize("point", ["once_after_store", "once_after_broadcast"])
def test_cut_short_at_any_step_then_run_again_deploys_once(
    setup: Setup, monkeypatch: pytest.MonkeyPatch, point: str, nth: int
) -> None:
    hits = {"n": 0}
    real = failpoints.hit

    def hit(name: str) -> None:
        real(name)
        if name == point:
            hits["n"] += 1
            if hits["n"] == nth:
                raise Crash(f"{name}:{nth}")

    monkeypatch.setattr(failpoints, "hit", hit)
    before = setup.nonce()
    with pytest.raises(Crash):
        setup.add()
    assert setup.town().contracts_state == "deploying"
    monkeypatch.undo()
    added = setup.add()
    assert added.resumed
    assert setup.nonce() == before + 4  # no second deployment, no repeated call
    with setup.sessions() as session:
        purposes = sorted(session.scalars(select(OnceTxRow.purpose)))
        assert purposes == [
            "town:sakura-town:NamingRights:base-uri",
            "town:sakura-town:NamingRights:deploy",
            "town:sakura-town:ResidentCard:base-uri",
            "town:sakura-town:ResidentCard:deploy",
        ]
        assert len(session.scalars(select(OnceAttemptRow)).all()) == 4
        assert len(session.scalars(select(AuditEntry).where(AuditEntry.action == "town.add")).all()) == 1
    assert setup.town().contracts_state == "ready"
    assert setup.town().card_contract == added.card_contract


def test_a_resumed_town_keeps_its_stored_details(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(name: str) -> None:
        if name == "once_after_broadcast":
            raise Crash(name)

    monkeypatch.setattr(failpoints, "hit", crash)
    with pytest.raises(Crash):
        setup.add()
    monkeypatch.undo()
    added = setup.add(NewTown("sakura-town", "別の町", "Other Town", "13"))
    card = ResidentCardClient.at(setup.chain.w3, setup.compiled["ResidentCard"], added.card_contract)
    assert card.contract.functions.name().call() == "Sakura Town Resident Card"
    assert setup.town().name_ja == "桜町"


def test_separate_minter_and_voucher_keys_get_their_roles_on_the_card(setup: Setup) -> None:
    minter, signer = Account.create(), Account.create()
    grants = (("MINTER_ROLE", minter.address), ("SIGNER_ROLE", signer.address))
    added = setup.add(grants=grants)
    card = ResidentCardClient.at(setup.chain.w3, setup.compiled["ResidentCard"], added.card_contract)
    assert card.has_role("MINTER_ROLE", minter.address)
    assert card.has_role("SIGNER_ROLE", signer.address)
    assert not card.has_role(role_id("MINTER_ROLE"), signer.address)
    assert len(added.sent) == 6


@pytest.mark.parametrize(
    ("new", "message"),
    [
        (NewTown("Sakura", "桜町", "Sakura", "06"), "bad slug 'Sakura'"),
        (NewTown("-sakura", "桜町", "Sakura", "06"), "bad slug"),
        (NewTown("sakura", "桜町", "Sakura", "00"), "bad prefecture '00'"),
        (NewTown("sakura", "桜町", "Sakura", "48"), "bad prefecture '48'"),
        (NewTown("sakura", "桜町", "Sakura", "6"), "bad prefecture '6'"),
        (NewTown("sakura", " ", "Sakura", "06"), "--name-ja must be"),
        (NewTown("sakura", "桜町", "Sakura", "06", treasury="0x123"), "bad treasury address '0x123'"),
        (NewTown("sakura", "桜町", "Sakura", "06", treasury="0x" + "0" * 40), "zero address"),
        (NewTown("sakura", "桜町", "Sakura", "06", royalty_bps=1001), "royalty"),
    ],
)
def test_bad_input_is_refused_before_anything_is_stored(setup: Setup, new: NewTown, message: str) -> None:
    with pytest.raises(TownError, match=message.replace("(", r"\(")):
        setup.add(new)
    with setup.sessions() as session:
        assert session.scalars(select(Municipality)).all() == []


def test_card_names_fit_the_eip712_domain() -> None:
    assert card_name("Sakura") == "Sakura Digital Resident Card"
    assert card_name("Sakura Town") == "Sakura Town Resident Card"
    long = card_name("Kamikawa-gun Higashikawa Town")
    assert long == "Kamikawa-gun Higa Resident Card"
    assert len(long.encode()) <= 31
    assert len(card_name("東川町東川町東川町").encode()) <= 31  # cut on a character, never inside one


def test_symbols_come_from_the_slug() -> None:
    assert card_symbol("sakura-town") == "SAKURATOWN"
    assert card_symbol("a-very-long-town-name") == "AVERYLONGTO"


def _manifest() -> Manifest:
    contracts = {
        name: DeployedContract(name, "0x" + digit * 40, "0x" + "0" * 64, 1)
        for name, digit in (("ResidentCard", "1"), ("NamingRights", "2"))
    }
    return Manifest(31337, "key", "0x" + "3" * 40, "now", contracts)


def test_a_town_without_its_own_contracts_uses_the_manifests(setup: Setup) -> None:
    manifest = _manifest()
    demo = Municipality(slug="hoshikawa", name_ja="星川町", name_en="Hoshikawa", prefecture="06")
    demo.contracts_state = "ready"
    assert card_contract_of(demo, manifest) == "0x" + "1" * 40
    assert rights_contract_of(demo, manifest) == "0x" + "2" * 40
    added = setup.add()
    own = setup.town()
    assert card_contract_of(own, manifest) == added.card_contract
    assert rights_contract_of(own, manifest) == added.rights_contract
    own.contracts_state = "deploying"
    with pytest.raises(TownNotReady):
        card_contract_of(own, manifest)


def test_towns_with_own_contracts_start_at_their_deployment(setup: Setup) -> None:
    with setup.sessions() as session:
        assert towns_with_own_contracts(session, setup.chain.chain_id, 0) == []
    added = setup.add()
    with setup.sessions() as session:
        (followed,) = towns_with_own_contracts(session, setup.chain.chain_id, 0)
        deployed = session.scalar(
            select(OnceTxRow.block_number).where(OnceTxRow.purpose == "town:sakura-town:ResidentCard:deploy")
        )
    assert followed.addresses == (added.card_contract, added.rights_contract)
    assert followed.start_block == deployed
