"""Holders' tables: walletless supporters and their sign-in tokens; the pass key; wallet
holders' Sign-In with Ethereum nonces and sessions.

SQLAlchemy 2 typed mappings; the pydantic schemas live apart, in `schemas.py`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
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


class PassKey(Base):
    """The deployment's Ed25519 key that signs holders' passes (PASETO v4.public).

    Made once on first use and shared by every process through the database; the private
    half is encrypted with the vault (FURUSATO_SECRET_KEY), the public half is published
    (`GET /api/v1/pass/keys`) so a pass can be checked offline. `kid` is the key's PASERK id,
    carried in each pass's footer; a pass naming a kid this deployment never made is forged
    or from another deployment."""

    __tablename__ = "pass_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    encrypted_key: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: A retired key signs nothing new; its passes (≤ 90 s) expire on their own.
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class SiweNonce(Base):
    """A nonce the server gave for a Sign-In with Ethereum (EIP-4361) message: single use."""

    __tablename__ = "siwe_nonces"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WalletSession(Base):
    """A session of a holder signed in with their own wallet (SIWE), by the SHA-256 of its token."""

    __tablename__ = "wallet_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: Lower-case 0x address the signed message proved.
    address: Mapped[str] = mapped_column(String(42), index=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
