"""A park as the public sees it: the name now (read from the chain), the term, who holds
the right (a pseudonym) and where to check it on chain.

The name now is `NamingRights.currentName(lot)`: the approved name while the term runs,
the default name before and after it. The chain answers, not the database, so the park page
and the sign's QR always agree with what anyone can read on chain; the database's approved
proposal is only the fallback when the node cannot be reached (logged), and the source of the
name's reading (the chain keeps the name alone).

Which lot: the awarded lot whose term runs now, else the latest awarded one (its term ended,
or has not begun); `auction_lot_id` is a lot scheduled or open for bidding, if any. The holder
is the token's current owner (a resale moves the token, so the holder changes; the right to
name stays with the primary winner), shown as "保有者 " and the first 6 hex digits of
sha256 of the address in lower case: stable, and not the address itself.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session
from web3 import Web3
from web3.contract import Contract

from backend.core.schemas import UtcDateTime
from backend.naming.models import Lot, NameProposal, Park
from backend.runtime import Runtime
from backend.towns.contracts import contract_tree
from backend.towns.models import Municipality
from minting.errors import first_line
from minting.indexer import owner_of

log = logging.getLogger("furusato.naming")

HOLDER_PREFIX = "保有者 "


def holder_pseudonym(address: str) -> str:
    """ "保有者 " + the first 6 hex digits (upper case) of sha256(address in lower case)."""
    return HOLDER_PREFIX + hashlib.sha256(address.lower().encode()).hexdigest()[:6].upper()


def aware(moment: datetime) -> datetime:
    """SQLite gives naive datetimes back: they are UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def explorer_link(explorer_url: str | None, contract: str, token_id: int | None) -> str | None:
    """The right on a block explorer (Etherscan's paths: `/nft/{contract}/{id}`, else the
    contract's `/address/…`); None when the deployment names no explorer."""
    if not explorer_url:
        return None
    base = explorer_url.rstrip("/")
    return f"{base}/nft/{contract}/{token_id}" if token_id is not None else f"{base}/address/{contract}"


def rights(runtime: Runtime, contract: str) -> Contract:
    """A read-only handle on a NamingRights contract (no key needed)."""
    w3 = runtime.chain.w3
    return w3.eth.contract(address=Web3.to_checksum_address(contract), abi=contract_tree()["NamingRights"].abi)


# ── schemas ─────────────────────────────────────────────────────────────────


class ParkChain(BaseModel):
    chain_id: int
    #: The town's NamingRights contract; null while the town's contracts are being deployed.
    contract: str | None
    #: The contract's lot id (= token id) of `lot_id`, once created on chain.
    lot_id: int | None
    #: The right (or the contract) on the deployment's block explorer; null without one.
    explorer_url: str | None


class ParkPublic(BaseModel):
    id: int
    municipality: str
    #: The park's default (条例) name: its name whenever no approved name runs.
    default_name: str
    name_en: str
    description_ja: str
    description_en: str
    photo_data_url: str
    location_ja: str
    latitude: float | None
    longitude: float | None
    #: The name now, as the chain answers `currentName`.
    current_name: str
    #: The reading (よみがな) of the name now: the approved proposal's, else null.
    current_reading: str | None
    term_start: UtcDateTime | None
    term_end: UtcDateTime | None
    #: Who holds the right now, as a pseudonym ("保有者 1A2B3C"); null before an award.
    holder: str | None
    #: The lot whose term runs now, else the latest awarded one; null if none.
    lot_id: int | None
    #: A lot scheduled or open for bidding (its auction page is /lots/{id}); else null.
    auction_lot_id: int | None
    chain: ParkChain


class ParksPage(BaseModel):
    items: list[ParkPublic]
    total: int
    limit: int
    offset: int


# ── facts ───────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class NameNow:
    """A lot's name now and its holder, as the chain (or, failing it, the database) says."""

    current_name: str
    current_reading: str | None
    holder_address: str | None


def shown_lot(session: Session, park_id: int, now: datetime) -> Lot | None:
    """The awarded lot whose term runs at `now`, else the latest awarded one."""
    awarded = session.scalars(
        select(Lot)
        .where(Lot.park_id == park_id, Lot.phase == "awarded", Lot.chain_lot_id.is_not(None))
        .order_by(Lot.term_end.desc(), Lot.id.desc())
    ).all()
    running = [lot for lot in awarded if aware(lot.term_start) <= now < aware(lot.term_end)]
    if running:
        return running[0]
    return awarded[0] if awarded else None


def auction_lot(session: Session, park_id: int, now: datetime) -> Lot | None:
    """A lot scheduled or open for bidding now (the earliest if several)."""
    lots = session.scalars(
        select(Lot)
        .where(Lot.park_id == park_id, Lot.phase == "auction", Lot.chain_state != "failed")
        .order_by(Lot.auction_start, Lot.id)
    ).all()
    return next((lot for lot in lots if aware(lot.ends_at) > now), None)


def approved_proposal(session: Session, lot_id: int) -> NameProposal | None:
    return session.scalar(
        select(NameProposal)
        .where(NameProposal.lot_id == lot_id, NameProposal.state == "approved")
        .order_by(NameProposal.id.desc())
    )


def name_now(runtime: Runtime, session: Session, park: Park, lot: Lot | None, now: datetime) -> NameNow:
    """The name now, its reading and the token's owner (module docstring)."""
    if lot is None or lot.chain_lot_id is None:
        return NameNow(park.name_ja, None, None)
    approved = approved_proposal(session, lot.id)
    try:
        contract = rights(runtime, lot.contract)
        name = str(contract.functions.currentName(lot.chain_lot_id).call())
        owner: str | None = Web3.to_checksum_address(contract.functions.ownerOf(lot.chain_lot_id).call())
    except Exception as exc:  # node down, or the award not mined yet: say what the database knows
        log.warning("park %s: lot %s not read from the chain: %s", park.id, lot.id, first_line(exc))
        running = aware(lot.term_start) <= now < aware(lot.term_end)
        name = approved.name if approved is not None and running else park.name_ja
        owner = owner_of(session, lot.chain_id, lot.contract, lot.chain_lot_id) or lot.awarded_to
    reading = approved.reading if approved is not None and approved.name == name else None
    return NameNow(name, reading or None, owner)


def rights_contract(runtime: Runtime, town: Municipality) -> str | None:
    """The town's NamingRights, or None while its own contracts are being deployed."""
    if town.contracts_state != "ready":
        return None
    return town.rights_contract or runtime.manifest.contracts["NamingRights"].address


def park_public(runtime: Runtime, session: Session, park: Park, town: Municipality, now: datetime) -> ParkPublic:
    lot = shown_lot(session, park.id, now)
    bidding = auction_lot(session, park.id, now)
    known = name_now(runtime, session, park, lot, now)
    contract = lot.contract if lot is not None else rights_contract(runtime, town)
    chain_lot_id = lot.chain_lot_id if lot is not None else None
    explorer = explorer_link(runtime.settings.explorer_url, contract, chain_lot_id) if contract else None
    return ParkPublic(
        id=park.id,
        municipality=town.slug,
        default_name=park.name_ja,
        name_en=park.name_en,
        description_ja=park.description_ja,
        description_en=park.description_en,
        photo_data_url=park.photo_data_url,
        location_ja=park.location_ja,
        latitude=park.latitude,
        longitude=park.longitude,
        current_name=known.current_name,
        current_reading=known.current_reading,
        term_start=lot.term_start if lot is not None else None,
        term_end=lot.term_end if lot is not None else None,
        holder=holder_pseudonym(known.holder_address) if known.holder_address else None,
        lot_id=lot.id if lot is not None else None,
        auction_lot_id=bidding.id if bidding is not None else None,
        chain=ParkChain(
            chain_id=lot.chain_id if lot is not None else runtime.manifest.chain_id,
            contract=contract,
            lot_id=chain_lot_id,
            explorer_url=explorer,
        ),
    )


def park_with_town(session: Session, park_id: int) -> tuple[Park, Municipality] | None:
    row = session.execute(
        select(Park, Municipality).join(Municipality, Municipality.id == Park.municipality_id).where(Park.id == park_id)
    ).first()
    return (row[0], row[1]) if row is not None else None


def parks_page(
    runtime: Runtime, session: Session, municipality: str | None, limit: int, offset: int, now: datetime
) -> ParksPage:
    query: Any = select(Park, Municipality).join(Municipality, Municipality.id == Park.municipality_id)
    if municipality is not None:
        query = query.where(Municipality.slug == municipality)
    rows = session.execute(query.order_by(Park.id)).all()
    items = [park_public(runtime, session, park, town, now) for park, town in rows[offset : offset + limit]]
    return ParksPage(items=items, total=len(rows), limit=limit, offset=offset)
