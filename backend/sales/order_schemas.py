"""The staff side of orders: what the console reads (lists, an order's page, the home page)
and the one thing it sends (a refund's reason). Times are UTC with their offset; the console
shows them in Japan time."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: No NUL: PostgreSQL refuses it in text (a 500 instead of a 422).
NO_NUL = r"^[^\x00]*$"


class StaffOrder(BaseModel):
    """An order as staff see it in a list: who bought what, how, and where it stands."""

    order_id: str
    status: str
    drop_id: int
    drop_title_ja: str
    drop_title_en: str
    quantity: int
    amount_jpy: int
    payment_method: str
    email: str
    prefecture: str = Field(description='JIS X 0401 code, "00" abroad')
    prefecture_name: str
    campaign_code: str | None
    token_ids: list[int]
    created_at: datetime
    paid_at: datetime | None
    minted_at: datetime | None
    failure: str | None


class StaffOrdersPage(BaseModel):
    items: list[StaffOrder]
    total: int
    limit: int
    offset: int


class RefundCreate(BaseModel):
    """Why the town refunds (kept in the refund and the audit log; never mailed to the buyer)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=1, max_length=500, pattern=NO_NUL)


class RefundPublic(BaseModel):
    """An order's refund (at most one per order)."""

    order_id: str
    #: "requested" (sent to Stripe, or pending there), "succeeded" (the money is back) or
    #: "failed" (Stripe refused: `failure` says why; asking again retries).
    status: Literal["requested", "succeeded", "failed"]
    #: The order's status after the refund ("refunded" once applied).
    order_status: str
    reason: str
    amount_jpy: int
    requested_by: str | None
    provider_ref: str | None = Field(description="Stripe's refund id (re_…), when refunded at Stripe")
    failure: str | None
    created_at: datetime
    #: When the order was settled as refunded (cards cancelled or revoked); None before.
    completed_at: datetime | None


class PaymentView(BaseModel):
    provider: str
    provider_ref: str = Field(description="Stripe's PaymentIntent (pi_…), or the order id for demo payments")
    status: str
    amount_jpy: int
    created_at: datetime


class CardView(BaseModel):
    token_id: int
    #: Set when the order was refunded after the card was minted (or on its way).
    revoked_at: datetime | None
    #: The mint job's state ("queued", "sent", "mined", "confirmed", "failed"), None for a
    #: card bought on chain from a wallet.
    mint_status: str | None
    #: Its holder on chain, as the indexer last saw it (until it has seen a fresh mint, the
    #: recipient the confirmed mint went to).
    owner: str | None
    tx_hash: str | None


class ChainTransaction(BaseModel):
    tx_hash: str
    block_number: int | None
    token_ids: list[int]


class ChainView(BaseModel):
    chain_id: int
    contract: str
    transactions: list[ChainTransaction]


class HistoryEntry(BaseModel):
    at: datetime
    #: "status" (a time the order itself records), "audit" (a staff action) or "provider"
    #: (a payment provider's event about it).
    kind: Literal["status", "audit", "provider"]
    #: e.g. "created", "paid", "minted", "expired", "order.refund", "charge.refunded".
    event: str
    actor: str | None = None
    detail: dict[str, Any] | None = None


class StaffOrderDetail(StaffOrder):
    """An order's page: the list's fields, plus its money, cards, chain and history."""

    expires_at: datetime
    wallet_address: str | None
    recipient: str | None
    payments: list[PaymentView]
    cards: list[CardView]
    chain: ChainView
    refund: RefundPublic | None
    history: list[HistoryEntry]


class TodaySales(BaseModel):
    """Today in Japan time (from 00:00 JST)."""

    date: str = Field(description="YYYY-MM-DD, Japan time")
    #: Orders made today, in any state.
    orders: int
    #: Orders paid today and still paid (not refunded or failed).
    paid: int
    #: What those paid, in yen (net of refunds: refunded orders are not in it).
    revenue_jpy: int
    #: Orders refunded today.
    refunded: int


class LiveDrop(BaseModel):
    id: int
    title_ja: str
    title_en: str
    status: str
    supply: int
    sold: int
    remaining: int
    starts_at: datetime
    ends_at: datetime | None


class PendingOrders(BaseModel):
    count: int
    #: The oldest few, to open from the home page.
    order_ids: list[str]


class PendingWork(BaseModel):
    #: Paid more than 10 minutes ago and still not minted (the mint worker or the chain is stuck).
    paid_not_minted: PendingOrders
    #: Orders whose minting failed, or paid too late for the stock left: refund due.
    failed: PendingOrders
    #: Refunds Stripe has not confirmed for more than 10 minutes, or refused.
    refunds_unconfirmed: PendingOrders
    #: Drafts not yet published.
    drafts: int
    #: Drops whose series is being added on chain.
    publishing: int
    #: Drafts whose last publish attempt failed (`publish_error` on the drop).
    publish_failed: int


class StaffHome(BaseModel):
    today: TodaySales
    live_drops: list[LiveDrop]
    pending: PendingWork
