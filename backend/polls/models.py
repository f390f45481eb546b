"""Polls' tables: announcements to holders (and each one's deliveries, and who opted out of
mail), polls, their options, the electorate frozen at opening, and the votes.

Exactly once, in the database:
- a delivery is unique per (announcement, e-mail address), so a restarted sender never mails
  a holder twice; its `.eml` file (or SMTP Message-ID) is named by the delivery's id;
- the electorate is written once, at the opening (`poll_electors`, one row per card with its
  owner then); a card bought or moved later does not change it;
- a vote is unique per (poll, card); changing it (when the poll allows) updates that row and
  gives a new receipt.

SQLAlchemy 2 typed mappings; the pydantic schemas live apart.
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
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, utcnow

#: draft → (pending_approval →) scheduled → sending → sent; or rejected / cancelled.
ANNOUNCEMENT_STATUSES = ("draft", "pending_approval", "scheduled", "sending", "sent", "rejected", "cancelled")
#: pending → sent, or skipped (the holder unsubscribed before it went out).
DELIVERY_STATUSES = ("pending", "sent", "skipped")
#: draft → (pending_approval →) scheduled → open → closed; or rejected / cancelled.
POLL_STATUSES = ("draft", "pending_approval", "scheduled", "open", "closed", "rejected", "cancelled")


class Announcement(Base):
    """News for the holders of chosen series (none chosen: every series of the town): shown
    on "my card" once sent, and mailed to each holder who has not unsubscribed."""

    __tablename__ = "announcements"
    __table_args__ = (
        CheckConstraint(f"status IN {ANNOUNCEMENT_STATUSES!r}", name="ck_announcements_status"),
        Index("ix_announcements_due", "status", "send_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"), index=True)
    title_ja: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    body_ja: Mapped[str] = mapped_column(Text)
    body_en: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    #: When it goes out; None: as soon as it is scheduled.
    send_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    created_by: Mapped[int] = mapped_column(ForeignKey("staff_members.id"))
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"), default=None)
    reject_reason: Mapped[str | None] = mapped_column(Text, default=None)
    #: When the sender fixed its recipients (status "sending") and when the last mail went.
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    recipients: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AnnouncementSeries(Base):
    __tablename__ = "announcement_series"

    announcement_id: Mapped[int] = mapped_column(ForeignKey("announcements.id"), primary_key=True)
    drop_id: Mapped[int] = mapped_column(ForeignKey("drops.id"), primary_key=True)


class AnnouncementDelivery(Base):
    """One holder's copy of an announcement: made once when sending starts, mailed once."""

    __tablename__ = "announcement_deliveries"
    __table_args__ = (
        UniqueConstraint("announcement_id", "email", name="uq_announcement_deliveries_email"),
        CheckConstraint(f"status IN {DELIVERY_STATUSES!r}", name="ck_announcement_deliveries_status"),
        Index("ix_announcement_deliveries_pending", "announcement_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    announcement_id: Mapped[int] = mapped_column(ForeignKey("announcements.id"))
    email: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(8), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MailOptOut(Base):
    """An address that unsubscribed from a town's announcements (one click in any of them)."""

    __tablename__ = "mail_opt_outs"

    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Poll(Base):
    """A question to the holders of chosen series (none chosen: every series of the town).
    One card, one vote; the electorate is frozen when it opens."""

    __tablename__ = "polls"
    __table_args__ = (
        CheckConstraint(f"status IN {POLL_STATUSES!r}", name="ck_polls_status"),
        CheckConstraint("quorum_percent >= 0 AND quorum_percent <= 100", name="ck_polls_quorum"),
        Index("ix_polls_due", "status", "opens_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"), index=True)
    question_ja: Mapped[str] = mapped_column(String(300))
    question_en: Mapped[str] = mapped_column(String(300))
    description_ja: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="draft")
    opens_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closes_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: Share of the electorate that must vote for the result to stand (Yamakoshi: 10 %).
    quorum_percent: Mapped[int] = mapped_column(Integer, default=0)
    #: Whether a vote may be changed until the close.
    allow_change: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("staff_members.id"))
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"), default=None)
    reject_reason: Mapped[str | None] = mapped_column(Text, default=None)
    #: The opening's snapshot: when, at which block, how many cards may vote.
    frozen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    frozen_block: Mapped[int | None] = mapped_column(BigInteger, default=None)
    electorate: Mapped[int | None] = mapped_column(Integer, default=None)
    #: After the close: the ballot file's last hash (its SHA-256 chain), fixed once.
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    ballots_head: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PollSeries(Base):
    __tablename__ = "poll_series"

    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id"), primary_key=True)
    drop_id: Mapped[int] = mapped_column(ForeignKey("drops.id"), primary_key=True)


class PollOption(Base):
    __tablename__ = "poll_options"
    __table_args__ = (UniqueConstraint("poll_id", "position", name="uq_poll_options_position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id"), index=True)
    #: 1, 2, … in the order shown (the ballot file names options by position).
    position: Mapped[int] = mapped_column(Integer)
    label_ja: Mapped[str] = mapped_column(String(200))
    label_en: Mapped[str] = mapped_column(String(200))


class PollElector(Base):
    """A card that may vote, and its owner at the opening (who alone may cast its vote)."""

    __tablename__ = "poll_electors"
    __table_args__ = (Index("ix_poll_electors_address", "poll_id", "address"),)

    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id"), primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    contract: Mapped[str] = mapped_column(String(42), primary_key=True)
    token_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    drop_id: Mapped[int] = mapped_column(ForeignKey("drops.id"))
    #: Lower-case 0x address of the owner on chain at the opening.
    address: Mapped[str] = mapped_column(String(42))
    #: Set once at the close: the card was revoked (refunded) by then, so its vote (if any)
    #: is left out of the tally and the ballot file, whatever is refunded later.
    excluded: Mapped[bool] = mapped_column(Boolean, default=False)


class PollVote(Base):
    """A card's vote; one row per (poll, card), updated in place when changed."""

    __tablename__ = "poll_votes"

    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id"), primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    contract: Mapped[str] = mapped_column(String(42), primary_key=True)
    token_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    option_id: Mapped[int] = mapped_column(ForeignKey("poll_options.id"))
    #: SHA-256 hex the voter keeps, published in the ballot file next to the choice.
    receipt: Mapped[str] = mapped_column(String(64))
    #: Times changed (0: first vote).
    changes: Mapped[int] = mapped_column(Integer, default=0)
    voted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
