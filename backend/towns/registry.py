"""Adding a town: its row, then its own ResidentCard and NamingRights, exactly once.

`add_town` is a sequence of steps that can each be cut short by a crash and run again:

1. The town row, `contracts_state="deploying"`, committed first (a slug that is taken by a
   ready town is refused; one still "deploying" is resumed with the details it was stored with).
2. Every transaction through `OnceSender`, one purpose per step, so a second run finds what
   the first sent (mined → its receipt; stored → the same bytes again) and sends only what is
   missing:
       town:{slug}:ResidentCard:deploy     name "<name_en> Digital Resident Card" (`card_name`:
                                           31 bytes at most), the town's treasury and royalty
       town:{slug}:NamingRights:deploy     name "<name_en> Park Naming Rights", its treasury
       town:{slug}:ResidentCard:base-uri   tokenURI → {public_url}/api/v1/tokens/{address}/
       town:{slug}:NamingRights:base-uri
       town:{slug}:ResidentCard:grant:{ROLE}:{address}   MINTER_ROLE for the mint worker's
                                           key and SIGNER_ROLE for the voucher key, when
                                           they are not the deployer's (which holds every role)
   Each address is written to the row as soon as its deployment is mined.
3. `contracts_state="ready"` and one audit row (`town.add`), in one commit.

A deployment that reverts is tried again under `…:deploy:2` (then `:3`), so a re-run never
loops on a stored revert; a step that cannot be sent now raises, and a re-run resumes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from backend.core import audit
from backend.core.db import session_scope
from backend.core.schemas import card_recipient
from backend.towns.contracts import deploy_purpose
from backend.towns.models import Municipality
from minting.client import role_id
from minting.compiler import CompiledTree
from minting.once import OnceReceipt, OnceSender, call_tx, deploy_tx
from minting.resident_card import DEFAULT_ROYALTY_BPS

#: Lower-case letters, digits and inner hyphens, as in a URL path: `/towns/{slug}`.
SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
#: A town's home prefecture: JIS X 0401 "01"…"47" ("00", outside Japan, is for supporters).
HOME_PREFECTURE_PATTERN = r"^(0[1-9]|[1-3][0-9]|4[0-7])$"
#: ResidentCard's MAX_ROYALTY_BPS.
MAX_ROYALTY_BPS = 1_000
MAX_NAME_LENGTH = 200
#: A deployment that reverted is tried under this many purposes at most.
DEPLOY_TRIES = 3


class TownError(ValueError):
    """A one-line reason for the operator: bad input, a slug that is taken, a failed step."""


#: ResidentCard's name is its EIP-712 domain name, which OpenZeppelin keeps in 31 bytes.
MAX_CARD_NAME_BYTES = 31


def card_name(name_en: str) -> str:
    """The card collection's name: "<name_en> Digital Resident Card" when it fits in 31 UTF-8
    bytes, else "<name_en> Resident Card", the town's name shortened if it must be."""
    for suffix in (" Digital Resident Card", " Resident Card"):
        if len(f"{name_en}{suffix}".encode()) <= MAX_CARD_NAME_BYTES:
            return f"{name_en}{suffix}"
    room = MAX_CARD_NAME_BYTES - len(b" Resident Card")
    short = name_en.encode()[:room].decode(errors="ignore").rstrip()
    return f"{short} Resident Card"


def card_symbol(slug: str) -> str:
    """The collection symbol from the slug: "sakura-town" → "SAKURATOWN" (at most 11 characters)."""
    return re.sub(r"[^a-z0-9]", "", slug).upper()[:11] or "TOWN"


@dataclass(frozen=True)
class NewTown:
    """What the operator gives for a town (`furusato town add`)."""

    slug: str
    name_ja: str
    name_en: str
    prefecture: str
    description_ja: str = ""
    description_en: str = ""
    #: Receives on-chain proceeds and ERC-2981 royalties; None: the deployer's account.
    treasury: str | None = None
    royalty_bps: int = DEFAULT_ROYALTY_BPS

    def validated(self) -> NewTown:
        """This, with the treasury checksummed; `TownError` naming the first bad field."""
        if not re.fullmatch(SLUG_PATTERN, self.slug):
            raise TownError(
                f"bad slug {self.slug!r}: use 1-64 lower-case letters, digits and inner hyphens (e.g. sakura-town)"
            )
        for label, value in (("--name-ja", self.name_ja), ("--name-en", self.name_en)):
            if not value.strip() or len(value) > MAX_NAME_LENGTH:
                raise TownError(f"{label} must be 1-{MAX_NAME_LENGTH} characters")
        if not re.fullmatch(HOME_PREFECTURE_PATTERN, self.prefecture):
            raise TownError(
                f"bad prefecture {self.prefecture!r}: use the JIS X 0401 code of the town's prefecture, 01-47 "
                "(e.g. 06 for Yamagata)"
            )
        if not 0 <= self.royalty_bps <= MAX_ROYALTY_BPS:
            raise TownError(f"royalty must be 0-{MAX_ROYALTY_BPS} basis points")
        treasury = None
        if self.treasury is not None:
            try:
                treasury = card_recipient(self.treasury)
            except ValueError as exc:
                raise TownError(f"bad treasury address {self.treasury!r}: {exc}") from None
        return NewTown(
            self.slug,
            self.name_ja.strip(),
            self.name_en.strip(),
            self.prefecture,
            self.description_ja,
            self.description_en,
            treasury,
            self.royalty_bps,
        )


@dataclass(frozen=True)
class Deployer:
    """What deploying a town's contracts needs: the chain's `OnceSender` (the admin key) and
    the compiled contracts, and where tokenURIs point."""

    sender: OnceSender
    tree: Callable[[], CompiledTree]
    public_url: str
    #: Keys that must hold a role on the card besides the admin: (role, address).
    grants: Sequence[tuple[str, str]] = ()

    @property
    def admin(self) -> LocalAccount:
        return self.sender.account


@dataclass
class AddedTown:
    """What `add_town` did, for the CLI's line."""

    town_id: int
    slug: str
    card_contract: str
    rights_contract: str
    treasury: str
    resumed: bool
    #: Purposes whose transaction this run sent (the others were found done).
    sent: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _start(sessions: sessionmaker[Session], new: NewTown, treasury: str) -> tuple[int, bool]:
    """The town row, created "deploying" and committed; (id, resumed)."""
    try:
        with session_scope(sessions) as session:
            town = session.scalar(select(Municipality).where(Municipality.slug == new.slug))
            if town is not None:
                if town.contracts_state == "ready":
                    raise TownError(f"slug {new.slug!r} is taken: town {town.name_ja} ({town.name_en}) exists")
                return town.id, True
            town = Municipality(
                slug=new.slug,
                name_ja=new.name_ja,
                name_en=new.name_en,
                prefecture=new.prefecture,
                description_ja=new.description_ja,
                description_en=new.description_en,
                contracts_state="deploying",
                treasury=treasury,
                royalty_receiver=treasury,  # ResidentCard pays royalties to its treasury
                royalty_bps=new.royalty_bps,
            )
            session.add(town)
            session.flush()
            return town.id, False
    except IntegrityError:  # another `town add` created it a moment ago: resume that one
        with sessions() as session:
            town_id = session.scalar(select(Municipality.id).where(Municipality.slug == new.slug))
        if town_id is None:
            raise
        return town_id, True


def _send(deployer: Deployer, added: AddedTown, purpose: str, tx: Callable[[], dict[str, Any]]) -> OnceReceipt:
    """Send once; a revert is retried under the next purpose (`:2`, `:3`), never looped on."""
    receipt: OnceReceipt | None = None
    for attempt in range(1, DEPLOY_TRIES + 1):
        current = purpose if attempt == 1 else f"{purpose}:{attempt}"
        if deployer.sender.find(current) is None:
            added.sent.append(current)
        receipt = deployer.sender.send(current, tx())
        if receipt.ok:
            return receipt
    assert receipt is not None
    raise TownError(f"{purpose} reverted {DEPLOY_TRIES} times (last transaction {receipt.tx_hash})")


def add_town(sessions: sessionmaker[Session], deployer: Deployer, new: NewTown, *, actor: str) -> AddedTown:
    """Add the town and deploy its contracts, exactly once (see the module docstring)."""
    started = time.monotonic()
    new = new.validated()
    admin = deployer.admin.address
    town_id, resumed = _start(sessions, new, new.treasury or admin)
    with sessions() as session:
        town = session.get(Municipality, town_id)
        assert town is not None
        # A resumed town keeps the details it was stored with: its transactions may be signed.
        slug, name_en, treasury, royalty_bps = town.slug, town.name_en, town.treasury or admin, town.royalty_bps
    added = AddedTown(town_id, slug, "", "", treasury, resumed)
    w3 = deployer.sender.w3
    tree = deployer.tree()
    card_artifact, rights_artifact = tree["ResidentCard"], tree["NamingRights"]
    symbol = card_symbol(slug)

    card = _send(
        deployer,
        added,
        deploy_purpose(slug, "ResidentCard"),
        lambda: deploy_tx(w3, card_artifact, card_name(name_en), symbol, "", admin, treasury, royalty_bps),
    )
    added.card_contract = _record_address(sessions, town_id, "card_contract", card)
    rights = _send(
        deployer,
        added,
        deploy_purpose(slug, "NamingRights"),
        lambda: deploy_tx(w3, rights_artifact, f"{name_en} Park Naming Rights", f"{symbol}-NAME", "", admin, treasury),
    )
    added.rights_contract = _record_address(sessions, town_id, "rights_contract", rights)

    base = deployer.public_url.rstrip("/")
    card_contract = w3.eth.contract(address=Web3.to_checksum_address(added.card_contract), abi=card_artifact.abi)
    rights_contract = w3.eth.contract(address=Web3.to_checksum_address(added.rights_contract), abi=rights_artifact.abi)
    for name, contract in (("ResidentCard", card_contract), ("NamingRights", rights_contract)):
        uri = f"{base}/api/v1/tokens/{contract.address}/"
        _send(deployer, added, f"town:{slug}:{name}:base-uri", partial(call_tx, contract, "setBaseURI", uri))
    for role, address in deployer.grants:
        member = Web3.to_checksum_address(address)
        if member == admin:
            continue  # the admin holds every role from the constructor
        _send(
            deployer,
            added,
            f"town:{slug}:ResidentCard:grant:{role}:{member}",
            partial(call_tx, card_contract, "grantRole", role_id(role), member),
        )

    with session_scope(sessions) as session:
        town = session.get(Municipality, town_id, with_for_update=True)
        assert town is not None
        if town.contracts_state != "ready":
            town.contracts_state = "ready"
            audit.record(
                session,
                town_id=town_id,
                actor=actor,
                action="town.add",
                target_type="town",
                target_id=slug,
                after={
                    "slug": slug,
                    "card_contract": added.card_contract,
                    "rights_contract": added.rights_contract,
                    "treasury": treasury,
                    "royalty_bps": royalty_bps,
                },
            )
    added.seconds = time.monotonic() - started
    return added


def _record_address(sessions: sessionmaker[Session], town_id: int, column: str, receipt: OnceReceipt) -> str:
    """Store a deployed contract's address on the town row (idempotent), and return it."""
    if receipt.contract_address is None:
        raise TownError(f"transaction {receipt.tx_hash} deployed no contract")
    with session_scope(sessions) as session:
        town = session.get(Municipality, town_id)
        assert town is not None
        setattr(town, column, receipt.contract_address)
    return receipt.contract_address
