"""Naming rights' tables: parks, their lots (one naming right per term and its yen auction),
bidders, bids (a hash-chained log), award offers, name proposals and the reasons a town
gives when it refuses a name.

SQLAlchemy 2 typed mappings; the pydantic schemas live apart. The auction's rules (minimum
bid, soft close) are in `backend.naming.rules`, shared by the bid path, the settle job and
the test that compares them with the contract.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, utcnow


class Park(Base):
    """A park whose naming right a town sells. `name_ja` is its default (条例) name, the name
    it has whenever no approved name runs."""

    __tablename__ = "parks"

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"), index=True)
    name_ja: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    description_ja: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    #: A photo (JPEG, PNG or WebP) as a data: URL, "" for none; kept small by the schema.
    photo_data_url: Mapped[str] = mapped_column(Text, default="")
    #: Where it is, in words (e.g. "星川町大字本郷 1-2") and optionally as coordinates.
    location_ja: Mapped[str] = mapped_column(String(300), default="")
    latitude: Mapped[float | None] = mapped_column(Float, default=None)
    longitude: Mapped[float | None] = mapped_column(Float, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Lot(Base):
    """One naming right (a park for a term) and its yen auction.

    `phase` is what the backend decided; the public status adds the clock to it
    (`rules.public_status`): "auction" is scheduled, open or ended by time, then the settle
    job moves it to "awaiting_payment" (an offer is out), "awarded" (paid; the on-chain award
    follows through the exactly-once sender) or "unsold" (no bid; staff may relist).

    `ends_at` is the auction's end as it stands (soft close moves it); `auction_end` the end
    first scheduled. Times are whole seconds, as on chain, so the same rule gives the same end.
    The bid columns (`highest_*`, `bid_count`, `log_head`) change only under the lot's row
    lock, in the transaction that inserts the bid.
    """

    __tablename__ = "lots"
    __table_args__ = (
        CheckConstraint("phase IN ('auction', 'awaiting_payment', 'awarded', 'unsold')", name="ck_lots_phase"),
        CheckConstraint("chain_state IN ('creating', 'ready', 'failed')", name="ck_lots_chain_state"),
        CheckConstraint("term_start < term_end", name="ck_lots_term"),
        CheckConstraint("auction_start < auction_end", name="ck_lots_auction"),
        CheckConstraint("reserve_jpy > 0", name="ck_lots_reserve"),
        Index("ix_lots_due", "phase", "ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    park_id: Mapped[int] = mapped_column(ForeignKey("parks.id"), index=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"), index=True)
    term_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    term_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    auction_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    auction_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reserve_jpy: Mapped[int] = mapped_column(Integer)
    #: A fixed step in yen; None: the default rule, max(¥1,000, 5 % of the highest bid).
    min_increment_jpy: Mapped[int | None] = mapped_column(Integer, default=None)
    soft_close_seconds: Mapped[int] = mapped_column(Integer, default=300)
    extension_seconds: Mapped[int] = mapped_column(Integer, default=300)
    phase: Mapped[str] = mapped_column(String(20), default="auction")
    highest_bid_jpy: Mapped[int | None] = mapped_column(Integer, default=None)
    #: `LotBidder.id` of the highest bid (no foreign key: the two tables point at each other).
    highest_bidder_id: Mapped[int | None] = mapped_column(Integer, default=None)
    bid_count: Mapped[int] = mapped_column(Integer, default=0)
    #: The bid log's last entry hash (hex); "" before the first bid.
    log_head: Mapped[str] = mapped_column(String(64), default="")
    #: How many times staff relisted it (each relist is a new on-chain window).
    relist_count: Mapped[int] = mapped_column(Integer, default=0)
    # ── on chain ──
    chain_id: Mapped[int] = mapped_column(BigInteger)
    #: The town's NamingRights contract (checksummed).
    contract: Mapped[str] = mapped_column(String(42))
    #: The contract's lot id (= token id), known once `createLot` is mined.
    chain_lot_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    chain_state: Mapped[str] = mapped_column(String(16), default="creating")
    chain_error: Mapped[str] = mapped_column(Text, default="")
    #: Who the right was awarded to (the winner's address) and the award's transaction.
    awarded_to: Mapped[str | None] = mapped_column(String(42), default=None)
    award_tx_hash: Mapped[str | None] = mapped_column(String(66), default=None)
    #: When staff were told the term ends within 90 days (console and mail), once.
    term_notice_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LotBidder(Base):
    """A holder registered to bid on one lot: where they live (for the figures), how they pay,
    and the pseudonym the public sees ("入札者 3": the order of registration)."""

    __tablename__ = "lot_bidders"
    __table_args__ = (
        UniqueConstraint("lot_id", "holder_id", name="uq_lot_bidders_holder"),
        UniqueConstraint("lot_id", "number", name="uq_lot_bidders_number"),
        CheckConstraint("payment_method IN ('demo', 'card')", name="ck_lot_bidders_method"),
        CheckConstraint("payment_state IN ('ready', 'pending')", name="ck_lot_bidders_state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), index=True)
    holder_id: Mapped[int] = mapped_column(ForeignKey("holders.id"), index=True)
    #: 1, 2, 3… per lot: the public pseudonym is built from it.
    number: Mapped[int] = mapped_column(Integer)
    #: JIS X 0401 code "01"…"47", "00" outside Japan.
    prefecture: Mapped[str] = mapped_column(String(2))
    payment_method: Mapped[str] = mapped_column(String(10))
    #: "ready" to bid; "pending" while a card is being saved (Stripe setup not completed).
    payment_state: Mapped[str] = mapped_column(String(10), default="ready")
    #: Stripe: the customer, the setup's Checkout Session, the saved PaymentMethod.
    card_customer: Mapped[str | None] = mapped_column(String(100), default=None)
    card_setup_session: Mapped[str | None] = mapped_column(String(100), default=None, unique=True)
    card_payment_method: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Bid(Base):
    """An accepted bid, entry `seq` of the lot's hash-chained log.

    `entry_hash = sha256(prev_hash ‖ canonical line)` (`backend.naming.bid_log`), so the log
    published after the close can be checked link by link; `(lot_id, seq)` is unique, so two
    bids can never both be entry n.
    """

    __tablename__ = "bids"
    __table_args__ = (
        UniqueConstraint("lot_id", "seq", name="uq_bids_seq"),
        UniqueConstraint("bidder_id", "idempotency_key", name="uq_bids_idempotency"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), index=True)
    bidder_id: Mapped[int] = mapped_column(ForeignKey("lot_bidders.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    amount_jpy: Mapped[int] = mapped_column(Integer)
    placed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: The auction's end after this bid (moved when it came inside the soft-close window).
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


class LotOffer(Base):
    """An offer of the right after the close: round 1 to the winner at the winning bid, rounds
    2 and 3 to the next distinct bidders at their own highest bid (second-chance offers).
    Together they are the lot's public award log.

    `state`: "charging" (an off-session charge is being made), "awaiting_payment" (the
    bidder must pay through the pay link before `pay_deadline`), "paid", "lapsed" (not paid
    in time) or "declined". One row per (lot, round): a round is offered once.
    """

    __tablename__ = "lot_offers"
    __table_args__ = (
        UniqueConstraint("lot_id", "round", name="uq_lot_offers_round"),
        CheckConstraint(
            "state IN ('charging', 'awaiting_payment', 'paid', 'lapsed', 'declined')", name="ck_lot_offers_state"
        ),
        Index("ix_lot_offers_due", "state", "pay_deadline"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    bidder_id: Mapped[int] = mapped_column(ForeignKey("lot_bidders.id"))
    amount_jpy: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20), default="charging")
    #: Why the off-session charge failed (Stripe's decline code), shown to staff only.
    charge_error: Mapped[str] = mapped_column(String(100), default="")
    pay_deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    #: SHA-256 of the pay link's secret (the link is mailed; only its hash is kept).
    pay_token_hash: Mapped[str | None] = mapped_column(String(64), default=None, unique=True)
    #: Stripe's PaymentIntent (off-session charge) or Checkout Session (pay link), once made.
    payment_ref: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class NameProposal(Base):
    """A name the primary winner proposed for the term, and the town's decision.

    `state`: "relaying" (the signed proposal is on its way to the chain), "pending" (on chain,
    awaiting moderation), "approved", "rejected" or "failed" (the chain refused it). `via` is
    "relayed" (signed by the winner's custodial key, sent by the minter) or "wallet" (the
    winner called `proposeName` from their own wallet; picked up from the chain).
    """

    __tablename__ = "name_proposals"
    __table_args__ = (
        CheckConstraint(
            "state IN ('relaying', 'pending', 'approved', 'rejected', 'failed')", name="ck_name_proposals_state"
        ),
        Index("ix_name_proposals_queue", "municipality_id", "state"),
        #: One open proposal per lot (the contract holds one pending name at a time): of two
        #: proposals sent at once, the second is refused here rather than by the chain.
        Index(
            "uq_name_proposals_open",
            "lot_id",
            unique=True,
            sqlite_where=text("state IN ('relaying', 'pending')"),
            postgresql_where=text("state IN ('relaying', 'pending')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), index=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"))
    proposer: Mapped[str] = mapped_column(String(42))
    name: Mapped[str] = mapped_column(String(200))
    #: The reading in kana (よみがな), for the sign and for moderators.
    reading: Mapped[str] = mapped_column(String(200), default="")
    #: Why this name, in the proposer's words.
    reason: Mapped[str] = mapped_column(Text, default="")
    via: Mapped[str] = mapped_column(String(10), default="relayed")
    state: Mapped[str] = mapped_column(String(10), default="relaying")
    #: The town's reason code when rejected (`NameRejectReason.code`, on chain as uint16).
    reject_code: Mapped[int | None] = mapped_column(Integer, default=None)
    reject_note: Mapped[str] = mapped_column(Text, default="")
    tx_hash: Mapped[str | None] = mapped_column(String(66), default=None)
    #: Why the chain refused the proposal (state "failed"), for the proposer and staff.
    chain_error: Mapped[str] = mapped_column(Text, default="")
    decision_tx_hash: Mapped[str | None] = mapped_column(String(66), default=None)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"), default=None)
    proposed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class NameRejectReason(Base):
    """A reason a town gives when it refuses a name; `code` goes on chain with the rejection."""

    __tablename__ = "name_reject_reasons"
    __table_args__ = (UniqueConstraint("municipality_id", "code", name="uq_name_reject_reasons_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"), index=True)
    code: Mapped[int] = mapped_column(Integer)
    label_ja: Mapped[str] = mapped_column(String(200))
    label_en: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
