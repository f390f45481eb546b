"""Staff's tables: people, their role in each town, sign-in codes, sessions and invites.

Secrets (codes, session tokens, invite tokens) are stored only as their SHA-256, so a copy of
the database signs nobody in. SQLAlchemy 2 typed mappings; the pydantic schemas live apart.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, utcnow

#: Roles, most powerful first (DESIGN.md, staff). Nobody grants a role above their own.
ROLES = ("owner", "editor", "moderator", "analyst", "verifier")


class StaffMember(Base):
    """A person who works for one or more towns, known by their e-mail address (lower case)."""

    __tablename__ = "staff_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StaffRole(Base):
    """What a member may do in one town."""

    __tablename__ = "staff_roles"
    __table_args__ = (
        UniqueConstraint("municipality_id", "staff_id", name="uq_staff_roles_member"),
        CheckConstraint(f"role IN {ROLES!r}", name="ck_staff_roles_role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"), index=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_members.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SignInCode(Base):
    """A 6-digit code mailed to an address: 10 minutes, single use, locked after 5 wrong tries."""

    __tablename__ = "staff_sign_in_codes"
    __table_args__ = (Index("ix_staff_sign_in_codes_email", "email", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    #: SHA-256 of the code, keyed with the deployment's secret (a 6-digit space is small).
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StaffSession(Base):
    """A signed-in session, by the SHA-256 of its token; idle and absolute expiry."""

    __tablename__ = "staff_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_members.id"), index=True)
    #: SHA-256 of the CSRF token the console sends back in a header on cookie writes.
    csrf_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: The absolute end, whatever the activity.
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class Invite(Base):
    """An owner's invitation of an e-mail address to a town with a role: 7 days, single use."""

    __tablename__ = "staff_invites"
    __table_args__ = (CheckConstraint(f"role IN {ROLES!r}", name="ck_staff_invites_role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16))
    invited_by: Mapped[int] = mapped_column(ForeignKey("staff_members.id"))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
