"""A lot as the public sees it: `GET /api/v1/lots/{id}`, the bid answer's `lot`, every SSE event.

One builder (`lot_public`) serves all three, so the page reads the same JSON whichever way it
came. Bidders appear by pseudonym only ("入札者 3": the order they registered in).

`bids` holds the newest `BIDS_SHOWN` bids, newest first; `bid_count` counts them all (the whole
log is published at `/bid-log` after the close). A bounded list keeps each event small: a
stream sends the whole lot on every bid, to every watcher, and a bidding war of thousands of
bids must not make each event grow without end. The bids are read only up to the lot row's
`bid_count`, so a lot read while a bid commits never lists a bid its count does not include.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.config import Settings
from backend.core.schemas import UtcDateTime
from backend.naming import rules
from backend.naming.models import Bid, Lot, LotBidder, Park
from backend.towns.models import Municipality

#: How many of the newest bids a lot lists.
BIDS_SHOWN = 20


def pseudonym(number: int) -> str:
    """The public name of bidder `number` (Japanese first; English pages show "Bidder N")."""
    return f"入札者 {number}"


def pseudonym_en(number: int) -> str:
    return f"Bidder {number}"


class BidPublic(BaseModel):
    seq: int = Field(description="Its place in the lot's bid log, 1, 2, 3…")
    amount_jpy: int
    bidder: str = Field(description='The bidder\'s pseudonym, e.g. "入札者 3"')
    bidder_number: int = Field(description='The number in the pseudonym ("Bidder 3" in English)')
    at: UtcDateTime


class ChainRef(BaseModel):
    chain_id: int
    contract: str
    lot_id: int | None = Field(description="The contract's lot id (= token id), once created on chain")


class LotPublic(BaseModel):
    id: int
    park_id: int
    park_name_ja: str
    park_name_en: str
    municipality: str = Field(description="The town's slug")
    status: str = Field(description="scheduled, open, ended, awaiting_payment, awarded or unsold")
    term_start: UtcDateTime
    term_end: UtcDateTime
    auction_start: UtcDateTime
    ends_at: UtcDateTime = Field(description="The end as it stands (a bid in the soft-close window moves it)")
    auction_end: UtcDateTime = Field(description="The end first scheduled")
    reserve_jpy: int
    min_increment_jpy: int | None = Field(description="A fixed step; null: max(¥1,000, 5 % of the highest bid)")
    minimum_bid_jpy: int = Field(description="The smallest bid accepted now")
    highest_bid_jpy: int | None
    bid_count: int
    soft_close_seconds: int
    extension_seconds: int
    server_time: UtcDateTime = Field(description="The server's clock when this was read (bids go by it)")
    bids: list[BidPublic] = Field(description=f"The newest {BIDS_SHOWN} bids, newest first (`bid_count`: all)")
    chain: ChainRef
    payment_methods: list[str] = Field(description="how a bidder can register to pay here: demo, card")


def status_of(lot: Lot, now: int) -> str:
    return rules.public_status(
        lot.phase, lot.chain_state == "ready", rules.seconds(lot.auction_start), rules.seconds(lot.ends_at), now
    )


@dataclass(frozen=True)
class _Names:
    park_ja: str
    park_en: str
    town_slug: str


#: (park id, town id) → their names and when read: every bid and every stream event shows
#: them, and they change rarely (a renamed park shows within `NAMES_TTL_SECONDS`).
_names: dict[tuple[int, int], tuple[float, _Names]] = {}
NAMES_TTL_SECONDS = 10.0


def _names_of(session: Session, park_id: int, town_id: int) -> _Names:
    key = (park_id, town_id)
    cached = _names.get(key)
    if cached is not None and time.monotonic() - cached[0] < NAMES_TTL_SECONDS:
        return cached[1]
    park = session.get(Park, park_id)
    town = session.get(Municipality, town_id)
    assert park is not None
    assert town is not None
    names = _Names(park.name_ja, park.name_en, town.slug)
    if len(_names) > 10_000:
        _names.clear()
    _names[key] = (time.monotonic(), names)
    return names


def bidder_methods(settings: Settings) -> list[str]:
    """How a bidder can pay on this deployment: `demo` in demo mode, `card` with Stripe set up."""
    return [method for method, on in (("demo", settings.demo_mode), ("card", settings.card_api_key is not None)) if on]


def lot_public(session: Session, lot: Lot, now: int, methods: list[str]) -> LotPublic:
    """`lot` for the public at unix second `now` (its newest bids read here); `methods` is
    `bidder_methods` of the deployment."""
    names = _names_of(session, lot.park_id, lot.municipality_id)
    rows = session.execute(
        select(Bid.seq, Bid.amount_jpy, LotBidder.number, Bid.placed_at)
        .join(LotBidder, LotBidder.id == Bid.bidder_id)
        .where(Bid.lot_id == lot.id, Bid.seq <= lot.bid_count)
        .order_by(Bid.seq.desc())
        .limit(BIDS_SHOWN)
    ).all()
    return LotPublic(
        id=lot.id,
        park_id=lot.park_id,
        park_name_ja=names.park_ja,
        park_name_en=names.park_en,
        municipality=names.town_slug,
        status=status_of(lot, now),
        term_start=lot.term_start,
        term_end=lot.term_end,
        auction_start=lot.auction_start,
        ends_at=lot.ends_at,
        auction_end=lot.auction_end,
        reserve_jpy=lot.reserve_jpy,
        min_increment_jpy=lot.min_increment_jpy,
        minimum_bid_jpy=rules.minimum_bid(lot.reserve_jpy, lot.highest_bid_jpy, lot.min_increment_jpy),
        highest_bid_jpy=lot.highest_bid_jpy,
        bid_count=lot.bid_count,
        soft_close_seconds=lot.soft_close_seconds,
        extension_seconds=lot.extension_seconds,
        server_time=rules.at_second(now),
        bids=[
            BidPublic(seq=seq, amount_jpy=amount, bidder=pseudonym(number), bidder_number=number, at=at)
            for seq, amount, number, at in rows
        ],
        chain=ChainRef(chain_id=lot.chain_id, contract=lot.contract, lot_id=lot.chain_lot_id),
        payment_methods=methods,
    )


def read_lot(session: Session, lot_id: int, now: int, methods: list[str]) -> LotPublic | None:
    lot = session.get(Lot, lot_id)
    return None if lot is None else lot_public(session, lot, now, methods)
