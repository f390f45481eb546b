"""ORM models (SQLAlchemy 2 typed mappings). Pydantic schemas live apart, in `schemas.py`."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base


def utcnow() -> datetime:
    return datetime.now(UTC)


class Municipality(Base):
    """A town (自治体) on this deployment; one deployment can serve several."""

    __tablename__ = "municipalities"
    __table_args__ = (CheckConstraint("length(prefecture) = 2", name="ck_municipalities_prefecture"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name_ja: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    #: JIS X 0401 prefecture code, "01"…"47".
    prefecture: Mapped[str] = mapped_column(String(2))
    description_ja: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


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
    series_id: Mapped[int] = mapped_column(Integer)
    first_token_id: Mapped[int] = mapped_column(BigInteger)
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


class Holder(Base):
    """A walletless supporter: a custodial address whose key the server keeps, encrypted."""

    __tablename__ = "holders"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    address: Mapped[str] = mapped_column(String(42), unique=True)
    #: AES-GCM nonce + ciphertext of the private key; never returned, never logged.
    encrypted_key: Mapped[bytes] = mapped_column(LargeBinary)
    #: Which secret encrypted it, so the secret can be rotated.
    key_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Order(Base):
    """One purchase attempt. The order token is stored only as its SHA-256."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("quantity >= 1", name="ck_orders_quantity"),
        Index("ix_orders_expiry", "status", "expires_at"),
        Index("ix_orders_email", "email"),
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


class IdempotencyRecord(Base):
    """The first answer to a request with an `Idempotency-Key`, replayed for repeats."""

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Payment(Base):
    """Money received (or refunded) for an order, by provider and the provider's reference."""

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("provider", "provider_ref", name="uq_payments_provider_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    provider: Mapped[str] = mapped_column(String(16))
    provider_ref: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    amount_jpy: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WebhookEvent(Base):
    """A provider event, stored once by id in the transaction that applies it (or parks it)."""

    __tablename__ = "webhook_events"

    provider: Mapped[str] = mapped_column(String(16), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    order_id: Mapped[str | None] = mapped_column(String(40), default=None, index=True)
    #: "applied", "parked" (arrived before what it depends on) or "ignored".
    state: Mapped[str] = mapped_column(String(16))
    payload: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SignInToken(Base):
    """A one-time sign-in link (stored as the SHA-256 of its secret) or a signed-in session."""

    __tablename__ = "sign_in_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder_id: Mapped[int] = mapped_column(ForeignKey("holders.id"), index=True)
    #: "link" (emailed, single use) or "session" (what the link is exchanged for).
    kind: Mapped[str] = mapped_column(String(10))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
