"""Drops: a resident-card drop is a series on the town's card contract plus its sale terms here.

The series is created on chain first (its id range is the drop's serial numbers), then the
drop row. If the process dies between the two, the orphan series only reserves an id range.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from eth_account.signers.local import LocalAccount
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from backend.sales.models import Drop, DropSerial
from backend.towns.models import Municipality
from minting.chains import Chain
from minting.compiler import Artifact, compile_contracts
from minting.resident_card import ResidentCardClient


@dataclass(frozen=True)
class DropTerms:
    """What staff choose when they launch a resident-card drop."""

    title_ja: str
    title_en: str
    supply: int
    price_jpy: int
    price_wei: int
    per_buyer_limit: int
    starts_at: datetime
    ends_at: datetime | None = None
    description_ja: str = ""
    description_en: str = ""
    soulbound: bool = False
    payment_methods: str = "demo,card,wallet"


@cache
def card_artifact() -> Artifact:
    """The compiled ResidentCard, read once per process: each `compile_contracts()` hashes the
    sources and reads the artifacts again (about 5 ms), and they do not change under a server."""
    return compile_contracts()["ResidentCard"]


def card_client(chain: Chain, contract: str, account: LocalAccount | None = None) -> ResidentCardClient:
    return ResidentCardClient.at(chain.w3, card_artifact(), contract, account)


def next_free_token_id(card: ResidentCardClient) -> int:
    """The first id after every series on chain (ids start at 1: the number on the card)."""
    count = card.series_count()
    return 1 if count == 0 else card.series(count - 1).last_id + 1


def create_card_drop(
    session: Session, chain: Chain, contract: str, admin: LocalAccount, town: Municipality, terms: DropTerms
) -> Drop:
    """Add a series on chain for `terms` and the drop that sells it."""
    card = card_client(chain, contract, admin)
    first = next_free_token_id(card)
    series = card.add_series(
        first,
        first + terms.supply - 1,
        price_wei=terms.price_wei,
        sale_start=int(terms.starts_at.timestamp()),
        sale_end=int(terms.ends_at.timestamp()) if terms.ends_at else 2**64 - 1,
        per_buyer_cap=terms.per_buyer_limit,
        soulbound=terms.soulbound,
    )
    drop = Drop(
        municipality_id=town.id,
        kind="resident_card",
        sale_mode="first_come",
        title_ja=terms.title_ja,
        title_en=terms.title_en,
        description_ja=terms.description_ja,
        description_en=terms.description_en,
        price_jpy=terms.price_jpy,
        price_wei=terms.price_wei,
        supply=terms.supply,
        reserved=0,
        per_buyer_limit=terms.per_buyer_limit,
        starts_at=terms.starts_at,
        ends_at=terms.ends_at,
        payment_methods=terms.payment_methods,
        chain_id=chain.chain_id,
        contract=card.address,
        series_id=series.series_id,
        first_token_id=series.first_id,
    )
    session.add(drop)
    session.flush()
    session.add(DropSerial(drop_id=drop.id, next_serial=series.first_id, end_serial=series.first_id + terms.supply))
    session.flush()
    return drop


def drops_of(chain_id: int, municipality: str | None) -> Select[Drop, str]:
    """Drops on this deployment's chain with their town's slug, newest first, optionally of one town."""
    query = select(Drop, Municipality.slug).join(Municipality).where(Drop.chain_id == chain_id).order_by(Drop.id.desc())
    if municipality is not None:
        query = query.where(Municipality.slug == municipality)
    return query
