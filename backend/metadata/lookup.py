"""Find an issued card and the public facts its metadata is made of.

A card is public only once it exists: metadata for a number that is merely reserved (an
unpaid order, a mint still queued) would show a card nobody holds yet, and a marketplace
would cache it. "Issued" is decided from what this backend already records, most direct
first: the order is `minted`, or this card's mint job is `confirmed`, or the indexer saw
the token on chain (wallet purchases, and cards of orders refunded after minting).

The facts gathered here are the town's and the drop's only: nothing about the order or its
buyer (email, prefecture, wallet, order id) ever leaves this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session
from web3 import Web3

from backend.sales.models import Drop, Order, OrderCard
from backend.sales.orders import aware, job_ref
from backend.towns.models import Municipality
from minting.indexer import owner_of
from minting.store import MintJobRow

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
#: Token ids are stored as signed 64-bit integers; a larger uint256 cannot be one of ours.
MAX_TOKEN_ID = 2**63 - 1


@dataclass(frozen=True)
class CardFacts:
    """Everything public about one issued card."""

    contract: str
    token_id: int
    #: The token id zero-padded to the width of the drop's last id ("0042" of 1,000).
    number: str
    town_slug: str
    town_ja: str
    town_en: str
    #: The town's prefecture code (JIS X 0401), "01"…"47".
    town_prefecture: str
    title_ja: str
    title_en: str
    description_ja: str
    description_en: str
    issued_at: datetime
    #: The town's look on its card (settings): "#RRGGBB", and a data: URL logo or "".
    brand_colour: str = "#1f6f5c"
    logo_data_url: str = ""


def parse_contract(raw: str) -> str | None:
    """The checksummed address, whatever the case it came in; None if it is not an address."""
    return Web3.to_checksum_address(raw) if _ADDRESS.fullmatch(raw) else None


def parse_token_id(raw: str) -> int | None:
    """A decimal token id (as tokenURI writes it); None for anything else."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 78:  # 78 digits: the largest uint256
        return None
    return int(raw)


class NumberedSeries(Protocol):
    """What numbering needs of a drop (a `Drop`, or a row of its columns)."""

    @property
    def first_token_id(self) -> int | None: ...
    @property
    def supply(self) -> int: ...


def padded_number(drop: NumberedSeries, token_id: int) -> str:
    """Zero-pad to the width of the drop's last id, so every card of a drop reads alike."""
    width = len(str((drop.first_token_id or 1) + drop.supply - 1))
    return str(token_id).zfill(width)


def is_issued(session: Session, order: Order, drop: Drop, token_id: int) -> bool:
    """True once the card exists on chain as far as this backend knows (module docstring)."""
    if order.status == "minted":
        return True
    job = session.scalar(select(MintJobRow.status).where(MintJobRow.order_ref == job_ref(order.id, token_id)))
    if job == "confirmed":
        return True
    return owner_of(session, drop.chain_id, drop.contract, token_id) is not None


def find_card(session: Session, chain_id: int, contract: str, token_id: int) -> CardFacts | None:
    """The facts of card `token_id` of `contract` (checksummed) on `chain_id`, if issued.

    The issue date is when the card was paid for (a wallet purchase counts as paid when the
    indexer sees it); an order the backend has not refreshed since falls back to its
    creation, which precedes the purchase by at most the order's time to live.
    """
    if token_id > MAX_TOKEN_ID:
        return None
    row = session.execute(
        select(Order, Drop, Municipality)
        .join(OrderCard, OrderCard.order_id == Order.id)
        .join(Drop, Drop.id == OrderCard.drop_id)
        .join(Municipality, Municipality.id == Drop.municipality_id)
        .where(Drop.chain_id == chain_id, Drop.contract == contract, OrderCard.token_id == token_id)
    ).first()
    if row is None:
        return None
    order, drop, town = row
    if not is_issued(session, order, drop, token_id):
        return None
    return CardFacts(
        contract=drop.contract,
        token_id=token_id,
        number=padded_number(drop, token_id),
        town_slug=town.slug,
        town_ja=town.name_ja,
        town_en=town.name_en,
        town_prefecture=town.prefecture,
        title_ja=drop.title_ja,
        title_en=drop.title_en,
        description_ja=drop.description_ja,
        description_en=drop.description_en,
        issued_at=aware(order.paid_at or order.created_at),
        brand_colour=town.brand_colour,
        logo_data_url=town.logo_data_url,
    )
