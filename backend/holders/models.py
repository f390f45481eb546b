"""Holders' tables: walletless supporters and their sign-in tokens.

SQLAlchemy 2 typed mappings; the pydantic schemas live apart, in `schemas.py`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    DateTime,
    ForeignKey,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, utcnow


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
