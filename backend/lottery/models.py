"""The lottery's tables: one lottery per lottery drop, its applications, its promotion rounds.

SQLAlchemy 2 typed mappings; the pydantic schemas live apart, in `schemas.py`. What each
column means for the public record is in `record.py`; how the stages move, in `draw.py`.

    stage   announced ──close──▶ closed ──(anchored, draw_at)──▶ ranked ──(orders)──▶ drawn ──▶ settled

`announced` covers both the public states `announced` and `open` (the clock tells them
apart); `ranked` is internal (the ranking is stored, the winners' orders are being made) and
shows as `closed` until every winner has an order and the server seed is revealed.
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
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, utcnow

ANNOUNCED, CLOSED, RANKED, DRAWN, SETTLED = "announced", "closed", "ranked", "drawn", "settled"
STAGES = (ANNOUNCED, CLOSED, RANKED, DRAWN, SETTLED)
#: The draw's outcome of an entry: a place (`won`) or the waitlist. Never changed afterwards;
#: promotions and lapses are recorded beside it (`promoted_round`, `lapsed_round`).
WON, WAITLISTED = "won", "waitlisted"


class Lottery(Base):
    """The lottery of one drop: its committed seed, the fixed list, the anchor, the draw.

    Every move is one conditional UPDATE on `stage` (or on the anchor being unset), so two
    job processes, or one restarted after a kill, move it once.
    """

    __tablename__ = "lotteries"
    __table_args__ = (
        CheckConstraint("stage IN ('announced', 'closed', 'ranked', 'drawn', 'settled')", name="ck_lotteries_stage"),
    )

    drop_id: Mapped[int] = mapped_column(ForeignKey("drops.id"), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(32))
    stage: Mapped[str] = mapped_column(String(16), default=ANNOUNCED)
    #: AES-GCM (the deployment's vault) of the 32 bytes of `server_seed`; never changes.
    server_seed_enc: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(32))
    seed_commitment: Mapped[str] = mapped_column(String(64))
    #: The seed in the clear, from the draw on (public then).
    server_seed: Mapped[str | None] = mapped_column(String(64), default=None)
    #: Fixed at the close: the drop's terms then (staff cannot change them afterwards) and the list.
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    applications_close_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    draw_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    pay_within_hours: Mapped[int | None] = mapped_column(Integer, default=None)
    supply: Mapped[int | None] = mapped_column(Integer, default=None)
    entries_count: Mapped[int | None] = mapped_column(Integer, default=None)
    list_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    #: The anchor's exactly-once purpose is `lottery:drop:{id}:anchor` (`:anchor:{n}` after n-1 reverted).
    anchor_attempt: Mapped[int] = mapped_column(Integer, default=1)
    #: Recorded once the anchor transaction has the confirmation depth; never changed after.
    anchor_chain_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    anchor_from: Mapped[str | None] = mapped_column(String(42), default=None)
    anchor_tx_hash: Mapped[str | None] = mapped_column(String(66), default=None)
    anchor_block_number: Mapped[int | None] = mapped_column(BigInteger, default=None)
    anchor_block_hash: Mapped[str | None] = mapped_column(String(66), default=None)
    final_seed: Mapped[str | None] = mapped_column(String(64), default=None)
    drawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    #: Promotion rounds appended so far (`LotteryRound` rows 1..rounds).
    rounds: Mapped[int] = mapped_column(Integer, default=0)
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LotteryApplication(Base):
    """One application (an entry of the list). The application token is stored as its SHA-256
    (for reading it) and encrypted (so the mails can carry the applicant's link).

    `drop_id` references the lottery, not only the drop: on PostgreSQL inserting an
    application takes a key-share lock on the lottery's row, which the close waits for
    (see `applications.apply` and `draw.LotteryJob.close`)."""

    __tablename__ = "lottery_applications"
    __table_args__ = (
        UniqueConstraint("drop_id", "email", name="uq_lottery_applications_email"),
        UniqueConstraint("drop_id", "wallet_address", name="uq_lottery_applications_wallet"),
        CheckConstraint("quantity >= 1", name="ck_lottery_applications_quantity"),
        CheckConstraint("outcome IS NULL OR outcome IN ('won', 'waitlisted')", name="ck_lottery_applications_outcome"),
        Index("ix_lottery_applications_rank", "drop_id", "outcome", "rank"),
        Index("ix_lottery_applications_mail", "mail_due"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    drop_id: Mapped[int] = mapped_column(ForeignKey("lotteries.drop_id"))
    #: 16 random bytes as 32 lower-case hex characters: public, never linked to the person.
    entry_id: Mapped[str] = mapped_column(String(32), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    prefecture: Mapped[str] = mapped_column(String(2))
    quantity: Mapped[int] = mapped_column(Integer)
    wallet_address: Mapped[str | None] = mapped_column(String(42), default=None)
    campaign_code: Mapped[str | None] = mapped_column(String(64), default=None)
    token_hash: Mapped[str] = mapped_column(String(64))
    token_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: From the draw: 1-based position in the ranking, and `won` or `waitlisted`.
    rank: Mapped[int | None] = mapped_column(Integer, default=None)
    outcome: Mapped[str | None] = mapped_column(String(16), default=None)
    #: When a place (won, or promoted) must be paid by.
    deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    promoted_round: Mapped[int | None] = mapped_column(Integer, default=None)
    lapsed_round: Mapped[int | None] = mapped_column(Integer, default=None)
    #: The place's order, once made; its token encrypted, for the applicant's page and mail.
    order_id: Mapped[str | None] = mapped_column(ForeignKey("orders.id"), unique=True, default=None)
    order_token_enc: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    #: The mail outbox: something happened that the applicant has not been told yet.
    #: `mail_seq` counts those events, so a mail sent for an older one does not clear a newer.
    mail_due: Mapped[bool] = mapped_column(Boolean, default=True)
    mail_seq: Mapped[int] = mapped_column(Integer, default=1)
    #: What the last mail was about ("receipt", "won", "waitlisted", "promoted", "expired", "lost").
    mailed: Mapped[str | None] = mapped_column(String(16), default=None)


class LotteryRound(Base):
    """One promotion round: who lapsed together, who was promoted, in rank order (JSON)."""

    __tablename__ = "lottery_rounds"

    drop_id: Mapped[int] = mapped_column(ForeignKey("lotteries.drop_id"), primary_key=True)
    round: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: `["entry_id", …]`
    lapsed: Mapped[str] = mapped_column(Text)
    #: `[{"entry_id": …, "quantity": …}, …]`
    promoted: Mapped[str] = mapped_column(Text)
