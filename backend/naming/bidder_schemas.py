"""What bidders send and read: registration, their own standing, the award log, paying."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.core.schemas import PREFECTURE_PATTERN, UtcDateTime
from backend.naming.names import ProposalPublic

BidderMethod = Literal["demo", "card"]
PaymentState = Literal["ready", "pending"]
OfferState = Literal["charging", "awaiting_payment", "paid", "lapsed", "declined"]


class BidderRegistration(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"prefecture": "13", "payment_method": "demo"}]}
    )

    prefecture: str = Field(pattern=PREFECTURE_PATTERN, description='where you live: JIS X 0401 "01"…"47", "00" abroad')
    payment_method: BidderMethod = Field(
        description="`demo` (demo mode only) or `card`: a card saved now through Stripe (3-D Secure happens there), "
        "charged only if you win"
    )


class BidderRegistered(BaseModel):
    #: The public pseudonym: "入札者 N".
    bidder: str
    bidder_en: str
    number: int
    payment_method: BidderMethod
    #: "pending" until the card is saved (open `setup_url`); you bid once "ready".
    payment_state: PaymentState
    #: Stripe's page that saves the card (card, while pending).
    setup_url: str | None = None


class MyOffer(BaseModel):
    id: int
    round: int
    amount_jpy: int
    state: OfferState
    pay_deadline: UtcDateTime | None
    #: How to pay while "awaiting_payment": `demo` (the demo pay button) or `checkout`.
    pay_with: Literal["demo", "checkout"] | None
    #: The pay link (card offers awaiting payment): `/lots/{id}?offer={offer id}&pay=<token>`.
    pay_url: str | None


class LotMe(BaseModel):
    lot_id: int
    registered: bool
    bidder: str | None
    number: int | None
    payment_method: BidderMethod | None
    payment_state: PaymentState | None
    my_highest_bid_jpy: int | None
    is_highest: bool
    #: The latest offer made to you after the close, if any.
    offer: MyOffer | None
    #: The right was awarded on chain to your address: you may propose the park's name.
    is_primary_winner: bool
    #: The right is awarded on chain (to someone).
    awarded: bool
    #: The holder's proposals for this lot, newest first (a rejection with its reason and note).
    proposals: list[ProposalPublic]


class PublicOffer(BaseModel):
    round: int
    bidder: str
    bidder_en: str
    amount_jpy: int
    state: OfferState
    #: When the offer was made.
    at: UtcDateTime
    #: When it was paid or lapsed.
    settled_at: UtcDateTime | None


class CheckoutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(
        min_length=20, max_length=100, pattern=r"^[A-Za-z0-9_-]+$", description="the pay link's `pay` secret"
    )


class CheckoutLink(BaseModel):
    checkout_url: str


class OfferPaid(BaseModel):
    offer: MyOffer
