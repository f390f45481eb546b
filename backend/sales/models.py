"""Sales' tables: drops, their stock and serial numbers, orders, idempotency keys.

SQLAlchemy 2 typed mappings; the pydantic schemas live apart, in `schemas.py`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, utcnow


class Drop(Base):
    """Something on sale: a series of resident cards (or, later, a naming right).

    `reserved` counts cards held by unpaid orders plus cards paid for: a single conditional
    UPDATE takes stock (`reserved + q <= supply`), so no read-then-write race is possible on
    SQLite or PostgreSQL. Serial numbers are counted apart, in `DropSerial`.
    """

    __tablename__ = "drops"
    __table_args__ = (
        CheckConstraint("reserved >= 0 AND reserved <= supply", name="ck_drops_stock"),
        CheckConstraint("kind IN ('resident_card', 'naming_right')", name="ck_drops_kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="resident_card")
    sale_mode: Mapped[str] = mapped_column(String(20), default="first_come")
    title_ja: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    description_ja: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    price_jpy: Mapped[int] = mapped_column(Integer)
    #: What a wallet buyer pays on chain per card (wei), bound into the voucher.
    price_wei: Mapped[int] = mapped_column(Numeric(38, 0), default=0)
    supply: Mapped[int] = mapped_column(Integer)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    per_buyer_limit: Mapped[int] = mapped_column(Integer, default=5)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    payment_methods: Mapped[str] = mapped_column(String(100), default="demo,card,wallet")
    chain_id: Mapped[int] = mapped_column(BigInteger)
    contract: Mapped[str] = mapped_column(String(42))
    #: The series on chain: None while the drop is a draft. `first_token_id` is set when publishing
    #: starts (it reserves the id range under the town's row lock); `series_id` once the series is mined.
    series_id: Mapped[int | None] = mapped_column(Integer, default=None)
    first_token_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    #: "draft" → "publishing" (series transaction sent) → "live"; "paused" stops new orders.
    #: Only "live" and "paused" drops are public.
    status: Mapped[str] = mapped_column(String(16), default="live")
    soulbound: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Lottery drops (sale_mode "lottery"): applications until then, the draw, winners' time to pay.
    applications_close_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    draw_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    pay_within_hours: Mapped[int | None] = mapped_column(Integer, default=None)
    #: Why the last publish attempt failed (shown to staff), or None.
    publish_error: Mapped[str | None] = mapped_column(Text, default=None)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DropSerial(Base):
    """The next serial number (token id) of a drop, handed out when orders are paid (or vouchers
    issued) by one UPDATE … RETURNING, so numbers have no gaps and no repeats.

    A row apart from `drops` so that paying (which numbers) and ordering (which takes stock)
    never wait for each other's row lock on PostgreSQL.
    """

    __tablename__ = "drop_serials"

    drop_id: Mapped[int] = mapped_column(ForeignKey("drops.id"), primary_key=True)
    next_serial: Mapped[int] = mapped_column(BigInteger)
    #: One past the drop's last serial (`first_token_id + supply`): numbering never passes it.
    end_serial: Mapped[int] = mapped_column(BigInteger)


class FreeSerial(Base):
    """A serial number that came back: a wallet order's card whose voucher ran out unredeemed.
    Handed out again before new numbers, so the drop's series fills without gaps."""

    __tablename__ = "drop_free_serials"

    drop_id: Mapped[int] = mapped_column(ForeignKey("drops.id"), primary_key=True)
    token_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)


class BuyerCount(Base):
    """Cards a buyer (by email, and by wallet address) holds or has reserved in a drop.

    Raised by a conditional upsert in the order's transaction, so the per-buyer limit holds
    under concurrent orders; lowered again when a reservation expires.
    """

    __tablename__ = "buyer_counts"

    drop_id: Mapped[int] = mapped_column(ForeignKey("drops.id"), primary_key=True)
    #: "email:<lower-case address>" or "wallet:<lower-case 0x address>".
    buyer: Mapped[str] = mapped_column(String(320), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class Order(Base):
    """One purchase attempt. The order token is stored only as its SHA-256."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("quantity >= 1", name="ck_orders_quantity"),
        Index("ix_orders_expiry", "status", "expires_at"),
        Index("ix_orders_email", "email"),
        # The funnel groups a town's orders by the code they carry.
        Index("ix_orders_campaign", "campaign_code"),
        # The analytics rollup finds the person behind an address (a card's owner, a visit).
        Index("ix_orders_recipient", "recipient"),
        Index("ix_orders_wallet", "wallet_address"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    drop_id: Mapped[int] = mapped_column(ForeignKey("drops.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    email: Mapped[str] = mapped_column(String(320))
    prefecture: Mapped[str] = mapped_column(String(2))
    wallet_address: Mapped[str | None] = mapped_column(String(42), default=None)
    campaign_code: Mapped[str | None] = mapped_column(String(64), default=None)
    payment_method: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(20), default="pending_payment")
    token_hash: Mapped[str] = mapped_column(String(64))
    amount_jpy: Mapped[int] = mapped_column(Integer)
    #: Where the cards go: the buyer's wallet, or the holder's custodial address.
    recipient: Mapped[str | None] = mapped_column(String(42), default=None)
    holder_id: Mapped[int | None] = mapped_column(ForeignKey("holders.id"), default=None)
    #: Provider data the client needs again (checkout URL, vouchers), JSON.
    payment_data: Mapped[str] = mapped_column(Text, default="{}")
    tx_hash: Mapped[str | None] = mapped_column(String(66), default=None)
    failure: Mapped[str | None] = mapped_column(Text, default=None)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    minted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class OrderCard(Base):
    """A card (token id = serial number) assigned to an order, once: unique per drop."""

    __tablename__ = "order_cards"
    __table_args__ = (UniqueConstraint("drop_id", "token_id", name="uq_order_cards_token"),)

    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    token_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    drop_id: Mapped[int] = mapped_column(ForeignKey("drops.id"))
    #: Set when the order was refunded after minting: the card stays on chain but its pass
    #: does not verify and it is left out of votes and figures.
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class IdempotencyRecord(Base):
    """The first answer to a request with an `Idempotency-Key`, replayed for repeats."""

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Campaign(Base):
    """A short code per poster location or link: `/c/{code}` counts the scan and forwards to
    the drop with `?c={code}`, and orders carry the code, so each poster has its funnel."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"), index=True)
    drop_id: Mapped[int] = mapped_column(ForeignKey("drops.id"), index=True)
    #: Unique across the deployment (the short URL names no town).
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CampaignScan(Base):
    """One request of `/c/{code}`. `visitor` is a daily-salted hash of client address and user
    agent (never the raw values), so unique scans are distinct visitors per day."""

    __tablename__ = "campaign_scans"
    __table_args__ = (
        Index("ix_campaign_scans_campaign_day", "campaign_id", "day", "visitor"),
        # The funnel counts scans, bots and distinct visitors per campaign from this index alone.
        Index("ix_campaign_scans_funnel", "campaign_id", "bot", "visitor"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    #: The Japan-time date of the scan, "YYYY-MM-DD" (the salt's day).
    day: Mapped[str] = mapped_column(String(10))
    visitor: Mapped[str] = mapped_column(String(64))
    #: A known crawler or link scanner by its user agent.
    bot: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Refund(Base):
    """A staff refund of an order, at most one per order (the unique order id makes double
    clicks and concurrent refunds one refund)."""

    __tablename__ = "refunds"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"), default=None)
    #: "requested" (sent to the provider), "succeeded" or "failed".
    status: Mapped[str] = mapped_column(String(16), default="requested")
    provider_ref: Mapped[str | None] = mapped_column(String(200), default=None)
    amount_jpy: Mapped[int] = mapped_column(Integer)
    failure: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
