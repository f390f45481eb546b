"""A holder's cards: every card of their paid orders, with where it is now.

"Their orders" are those placed for their custodial address (`holder_id`) and any placed
with their email address (e.g. paid from a wallet), so one sign-in shows everything bought.
The owner comes from the indexer; until it has seen a fresh mint, the order's recipient.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from backend.holders.models import Holder
from backend.sales.models import Drop, Order
from backend.sales.orders import card_ids, refresh
from backend.towns.models import Municipality
from minting.store import TokenOwnerRow

#: Orders whose cards exist or are on their way.
CARD_STATUSES = ("paid", "minting", "minted")


@dataclass(frozen=True)
class HeldCard:
    """One card as its holder sees it."""

    chain_id: int
    contract: str
    token_id: int
    drop_id: int
    title_ja: str
    title_en: str
    town_ja: str
    town_en: str
    #: "minting" or "minted".
    status: str
    owner: str | None
    custodial: bool


def _indexed_owner(session: Session, drop: Drop, token_id: int) -> str | None:
    row = session.get(TokenOwnerRow, (drop.chain_id, drop.contract, token_id))
    return None if row is None else row.owner


def held_cards(session: Session, holder: Holder, chain_id: int, now: datetime) -> list[HeldCard]:
    """The holder's cards on `chain_id`, in number order; brings each order's status up to date."""
    orders = session.scalars(
        select(Order)
        .join(Drop, Drop.id == Order.drop_id)
        .where(
            or_(Order.holder_id == holder.id, Order.email == holder.email),
            Order.status.in_(CARD_STATUSES),
            Drop.chain_id == chain_id,
        )
        .order_by(Order.created_at)
    ).all()
    cards: list[HeldCard] = []
    for order in orders:
        refresh(session, order, now)
        if order.status not in CARD_STATUSES:  # failed meanwhile
            continue
        drop = session.get(Drop, order.drop_id)
        assert drop is not None
        town = session.get(Municipality, drop.municipality_id)
        assert town is not None
        minted = order.status == "minted"
        for token_id in card_ids(session, order.id):
            owner = _indexed_owner(session, drop, token_id) or (order.recipient if minted else None)
            cards.append(
                HeldCard(
                    chain_id=drop.chain_id,
                    contract=drop.contract,
                    token_id=token_id,
                    drop_id=drop.id,
                    title_ja=drop.title_ja,
                    title_en=drop.title_en,
                    town_ja=town.name_ja,
                    town_en=town.name_en,
                    status="minted" if minted else "minting",
                    owner=owner,
                    custodial=owner is not None and owner.lower() == holder.address.lower(),
                )
            )
    return sorted(cards, key=lambda card: (card.contract, card.token_id))


def find_card(
    session: Session, holder: Holder, chain_id: int, contract: str, token_id: int, now: datetime
) -> HeldCard | None:
    """The holder's card `token_id` of `contract`, if it is one of theirs."""
    return next(
        (
            card
            for card in held_cards(session, holder, chain_id, now)
            if card.token_id == token_id and card.contract.lower() == contract.lower()
        ),
        None,
    )
