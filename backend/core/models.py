"""Core's tables: the audit log and the shared rate-limit counters.

Both live in the database so that several API processes behind one port behave like one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, utcnow


class AuditEntry(Base):
    """One staff write or sign-in attempt. `hash` is SHA-256 over the row's canonical JSON and
    `prev_hash` (the previous row's `hash`), so editing or deleting any row breaks the chain
    from there on; `furusato audit verify` recomputes it."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_town_target", "municipality_id", "target_type", "target_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int | None] = mapped_column(ForeignKey("municipalities.id"), default=None, index=True)
    #: The staff member's e-mail (or "cli:<user>" for the operator, or the address tried).
    actor: Mapped[str] = mapped_column(String(320))
    #: "drop.publish", "staff.sign_in", "staff.sign_in_failed", …
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32), default="")
    target_id: Mapped[str] = mapped_column(String(64), default="")
    #: JSON of the object's fields before and after ("null" for none).
    before: Mapped[str] = mapped_column(Text, default="null")
    after: Mapped[str] = mapped_column(Text, default="null")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """The chain's last hash, one row, locked by each append so rows chain in one order."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))


class RateCounter(Base):
    """Hits of one key (e.g. "staff-sign-in:email:…") in one fixed window."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
