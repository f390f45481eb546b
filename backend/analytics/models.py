"""Analytics' tables: the change queue, each person's stored facts and contribution, the
rollup counts every figure reads, premium reviews and people's data requests.

How figures stay current without scanning raw rows per request (`rollup.py`): every write
that can change a figure (an order's status, a check-in, a redemption, a vote, a bidder)
inserts an `AnalyticsChange` naming the person (by e-mail) or the address, in the write's own
transaction. The rollup job claims changes, recomputes each named person's facts from their
raw rows, and applies the difference between the person's stored contribution and the new
one to `analytics_counts`, deleting the changes in the same transaction: a change is
applied exactly once, and a person's figures are always a recomputation, never a running
guess, so refunds, transfers and deletions come out right.

SQLAlchemy 2 typed mappings; the pydantic schemas live apart, in `schemas.py`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
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


class AnalyticsChange(Base):
    """Something changed for a person: recompute them. Inserted in the writer's transaction,
    deleted in the transaction that applies it (`backend.analytics.changes.mark`)."""

    __tablename__ = "analytics_changes"
    __table_args__ = (
        CheckConstraint("kind IN ('email', 'address', 'scan', 'town')", name="ck_analytics_changes_kind"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    #: None: every town the person has orders in (an order knows its drop, not its town, cheaply).
    municipality_id: Mapped[int | None] = mapped_column(ForeignKey("municipalities.id"), default=None)
    #: "email" (key: lower-case address), "address" (key: lower-case 0x), "scan" (key:
    #: "<campaign_id>:<YYYY-MM-DD>"), "town" (key: "", rebuild the whole town).
    kind: Mapped[str] = mapped_column(String(8))
    key: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AnalyticsCursor(Base):
    """How far the rollup has read an append-only source (`token_transfers` by id). Its row
    named "rollup" is also the lock that makes rollup batches run one at a time."""

    __tablename__ = "analytics_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)


class AnalyticsPerson(Base):
    """One person (a buyer, by e-mail) of one town, with what they contribute to the counts.

    `contribution` is JSON `[[metric, dim1, dim2, day, value], …]`: exactly what this person
    added to `analytics_counts`, so the next recomputation subtracts it. After a deletion
    request `email` is NULL and the row is frozen: its counts stay, nothing links it to anyone.
    """

    __tablename__ = "analytics_people"
    __table_args__ = (
        UniqueConstraint("municipality_id", "email", name="uq_analytics_people_email"),
        Index("ix_analytics_people_town_resident", "municipality_id", "resident"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"))
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    #: JIS X 0401 "00"…"47" from their latest paid order; "" once erased.
    prefecture: Mapped[str] = mapped_column(String(2), default="")
    #: Holds at least one card of the town that is not revoked.
    resident: Mapped[bool] = mapped_column(default=False)
    cards: Mapped[int] = mapped_column(Integer, default=0)
    #: Japan date of their first card still counted ("YYYY-MM-DD"), None when not a resident.
    first_card_day: Mapped[str | None] = mapped_column(String(10), default=None)
    #: The MLIT category of the current year (`categories.py`), "" when none.
    category: Mapped[str] = mapped_column(String(16), default="")
    contribution: Mapped[str] = mapped_column(Text, default="[]")
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AnalyticsPersonAddress(Base):
    """An address of a person in a town: their custodial address, a wallet they paid to, a
    wallet they moved a card to. Resolves check-ins, redemptions, votes and transfers (which
    know an address) to the person."""

    __tablename__ = "analytics_person_addresses"
    __table_args__ = (Index("ix_analytics_person_addresses_person", "person_id"),)

    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"), primary_key=True)
    #: Lower-case 0x address.
    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("analytics_people.id"))


class AnalyticsPersonYear(Base):
    """A person's activity in one calendar year (Japan time): the MLIT category with its
    explanation, and the count of the town's designated activities (premium candidates)."""

    __tablename__ = "analytics_person_years"
    __table_args__ = (Index("ix_analytics_person_years_candidates", "municipality_id", "year", "designated"),)

    person_id: Mapped[int] = mapped_column(ForeignKey("analytics_people.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"))
    visit_days: Mapped[int] = mapped_column(Integer, default=0)
    check_ins: Mapped[int] = mapped_column(Integer, default=0)
    redemptions: Mapped[int] = mapped_column(Integer, default=0)
    votes: Mapped[int] = mapped_column(Integer, default=0)
    #: Designated activities of the town (settings) in the year: the premium threshold's count.
    designated: Mapped[int] = mapped_column(Integer, default=0)
    category: Mapped[str] = mapped_column(String(16), default="")
    #: Comma-separated categories the person also qualifies for (multi-label, as in 2023).
    flags: Mapped[str] = mapped_column(String(120), default="")
    #: JSON: the facts the category came from, and the rule that decided it.
    evidence: Mapped[str] = mapped_column(Text, default="{}")


class AnalyticsCount(Base):
    """One rollup cell: a metric by up to two dimensions and a day, month or year.

    The catalogue of metrics and dimensions is `backend.analytics.metrics`; `day` is
    "YYYY-MM-DD", "YYYY-MM", "YYYY" or "" (not dated)."""

    __tablename__ = "analytics_counts"
    # A period's edge days are read by day across every dimension: this index serves them
    # without walking the metric's cells (the primary key has the dimensions before the day).
    __table_args__ = (Index("ix_analytics_counts_day", "municipality_id", "metric", "day"),)

    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"), primary_key=True)
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    dim1: Mapped[str] = mapped_column(String(64), primary_key=True)
    dim2: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class PremiumReview(Base):
    """Staff's decision on a premium candidate (ふるさと住民登録) for one year, audited.
    Approved people see "プレミアム" on their card page. Nothing of it goes on chain."""

    __tablename__ = "premium_reviews"
    __table_args__ = (
        UniqueConstraint("person_id", "year", name="uq_premium_reviews_year"),
        CheckConstraint("decision IN ('approved', 'declined')", name="ck_premium_reviews_decision"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("analytics_people.id"))
    year: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str] = mapped_column(String(10))
    note: Mapped[str] = mapped_column(Text, default="")
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_members.id"))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DataRequest(Base):
    """A holder's request under APPI: deletion of what a town holds about them (or a record
    of a download). Staff complete or decline deletions before `due_at`."""

    __tablename__ = "data_requests"
    __table_args__ = (
        CheckConstraint("kind IN ('deletion', 'export')", name="ck_data_requests_kind"),
        CheckConstraint("status IN ('pending', 'completed', 'declined')", name="ck_data_requests_status"),
        Index("ix_data_requests_town_status", "municipality_id", "status", "due_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"))
    #: The requester's e-mail until the deletion is done; NULL afterwards.
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    kind: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    completed_by: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"), default=None)
    #: Why declined, or what was erased (counts of rows, no personal data).
    outcome: Mapped[str] = mapped_column(Text, default="")
