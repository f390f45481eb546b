"""The mint pipeline's tables. `minting` owns them; they live in the backend's database.

The backend's Alembic migrations create them (`backend/migrations/versions/0002_*`), so one
`alembic upgrade head` brings every table to the same version, but the models are declared
here, on their own metadata, because `minting` never imports `backend`.

    mint_jobs        one card to issue: (contract, token id) → recipient; unique order ref
    chain_txs        one nonce of one signer: the transaction that carries a batch of jobs
    tx_attempts      every signed version of a chain_tx (fee bumps), raw bytes and hash,
                     stored *before* the bytes are broadcast
    signer_nonces    next nonce per (chain, signer), allocated under a row lock
    worker_leases    which worker may send for a (chain, signer) right now, and until when
    indexer_cursors  the last block an indexer has applied, with its hash
    token_owners     current holder per (contract, token id), as the indexer saw it
    token_transfers  every Transfer the indexer saw (a reorg deletes and re-reads)
    once_txs         one administrative transaction sent exactly once per purpose string
                     (a town's deployment, a drop's series): its call and, once mined, its receipt
    once_attempts    every signed version of a once_tx (nonce, hash, raw bytes), stored
                     *before* it is broadcast

Example rows: a job `(order_ref="order-42", contract=0x5FbD…, token_id=1042,
recipient=0x7099…, status="sent", chain_tx_id=7)`; its chain_tx `(id=7, chain_id=31337,
signer=0xf39F…, nonce=12, status="sent")`; two attempts of it, the second with fees 12.5 %
higher; `signer_nonces (31337, 0xf39F…) next_nonce=13`. A once_tx
`(purpose="town:sakura:ResidentCard:deploy", to_address=None, status="mined",
contract_address=0xe7f1…)` with one attempt `(nonce=13, tx_hash=0x5c…)`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


def insert_for(session: Session) -> Callable[[Any], PostgresInsert | SqliteInsert]:
    """`insert` of the session's dialect: the one with ON CONFLICT clauses (upserts, skips)."""
    return postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


class MintingBase(DeclarativeBase):
    """Base of the mint pipeline's tables (their own metadata: see module docstring)."""

    metadata = MetaData()


class MintJobRow(MintingBase):
    __tablename__ = "mint_jobs"
    __table_args__ = (
        UniqueConstraint("order_ref", name="uq_mint_jobs_order_ref"),
        UniqueConstraint("chain_id", "contract", "token_id", name="uq_mint_jobs_token"),
        Index("ix_mint_jobs_status_id", "status", "id"),
        # Every stage updates a batch's jobs by their transaction: without it, a full scan each.
        Index("ix_mint_jobs_chain_tx", "chain_tx_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_ref: Mapped[str] = mapped_column(String(100))
    chain_id: Mapped[int] = mapped_column(BigInteger)
    contract: Mapped[str] = mapped_column(String(42))
    token_id: Mapped[int] = mapped_column(BigInteger)
    recipient: Mapped[str] = mapped_column(String(42))
    #: queued → sent → mined → confirmed, or failed
    status: Mapped[str] = mapped_column(String(16), default="queued")
    chain_tx_id: Mapped[int | None] = mapped_column(ForeignKey("chain_txs.id"), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class ChainTxRow(MintingBase):
    __tablename__ = "chain_txs"
    __table_args__ = (
        # The last line of defence: one transaction per nonce per signer, whatever the workers do.
        UniqueConstraint("chain_id", "signer", "nonce", name="uq_chain_txs_nonce"),
        Index("ix_chain_txs_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    signer: Mapped[str] = mapped_column(String(42))
    nonce: Mapped[int] = mapped_column(BigInteger)
    #: sent (signed and stored; maybe broadcast) → mined → confirmed, or dropped
    status: Mapped[str] = mapped_column(String(16), default="sent")
    mined_hash: Mapped[str | None] = mapped_column(String(66), default=None)
    block_number: Mapped[int | None] = mapped_column(BigInteger, default=None)
    block_hash: Mapped[str | None] = mapped_column(String(66), default=None)
    gas_used: Mapped[int | None] = mapped_column(BigInteger, default=None)
    last_broadcast_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TxAttemptRow(MintingBase):
    __tablename__ = "tx_attempts"
    __table_args__ = (
        UniqueConstraint("tx_hash", name="uq_tx_attempts_hash"),
        Index("ix_tx_attempts_chain_tx", "chain_tx_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain_tx_id: Mapped[int] = mapped_column(ForeignKey("chain_txs.id"))
    tx_hash: Mapped[str] = mapped_column(String(66))
    raw_tx: Mapped[bytes] = mapped_column(LargeBinary)
    max_fee_per_gas: Mapped[int] = mapped_column(BigInteger)
    max_priority_fee_per_gas: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SignerNonceRow(MintingBase):
    __tablename__ = "signer_nonces"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    signer: Mapped[str] = mapped_column(String(42), primary_key=True)
    next_nonce: Mapped[int] = mapped_column(BigInteger)


class WorkerLeaseRow(MintingBase):
    __tablename__ = "worker_leases"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    signer: Mapped[str] = mapped_column(String(42), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class IndexerCursorRow(MintingBase):
    __tablename__ = "indexer_cursors"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))


class TokenOwnerRow(MintingBase):
    __tablename__ = "token_owners"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    contract: Mapped[str] = mapped_column(String(42), primary_key=True)
    token_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    owner: Mapped[str] = mapped_column(String(42))
    block_number: Mapped[int] = mapped_column(BigInteger)


class TokenTransferRow(MintingBase):
    __tablename__ = "token_transfers"
    __table_args__ = (
        UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_token_transfers_log"),
        Index("ix_token_transfers_block", "chain_id", "block_number"),
        Index("ix_token_transfers_token", "chain_id", "contract", "token_id"),
        # The analytics rollup finds a custodial holder's moves to their own wallet by sender.
        Index("ix_token_transfers_from", "from_address"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    contract: Mapped[str] = mapped_column(String(42))
    token_id: Mapped[int] = mapped_column(BigInteger)
    from_address: Mapped[str] = mapped_column(String(42))
    to_address: Mapped[str] = mapped_column(String(42))
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))
    tx_hash: Mapped[str] = mapped_column(String(66))
    log_index: Mapped[int] = mapped_column(Integer)


class OnceTxRow(MintingBase):
    """One transaction sent exactly once for `purpose` (see `minting.once`)."""

    __tablename__ = "once_txs"
    __table_args__ = (UniqueConstraint("chain_id", "purpose", name="uq_once_txs_purpose"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    purpose: Mapped[str] = mapped_column(String(200))
    signer: Mapped[str] = mapped_column(String(42))
    #: The call, as first asked for: a re-signed attempt (fresh nonce or fees) repeats it.
    to_address: Mapped[str | None] = mapped_column(String(42), default=None)  # None: a deployment
    data: Mapped[bytes] = mapped_column(LargeBinary)
    value: Mapped[str] = mapped_column(String(78), default="0")  # wei, decimal (uint256 fits no BIGINT)
    gas: Mapped[int] = mapped_column(BigInteger)
    #: Bumped by each re-signing, which succeeds only if nobody else re-signed first.
    attempt_count: Mapped[int] = mapped_column(Integer, default=1)
    #: sent (signed and stored; maybe broadcast) → mined (its receipt is below)
    status: Mapped[str] = mapped_column(String(16), default="sent")
    tx_hash: Mapped[str | None] = mapped_column(String(66), default=None)
    block_number: Mapped[int | None] = mapped_column(BigInteger, default=None)
    receipt_status: Mapped[int | None] = mapped_column(Integer, default=None)
    contract_address: Mapped[str | None] = mapped_column(String(42), default=None)
    #: The receipt's logs, JSON (address, topics, data, indexes): callers decode events later.
    logs_json: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    mined_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class OnceAttemptRow(MintingBase):
    """One signed version of a once_tx, stored and committed before its bytes are broadcast."""

    __tablename__ = "once_attempts"
    __table_args__ = (
        UniqueConstraint("tx_hash", name="uq_once_attempts_hash"),
        Index("ix_once_attempts_tx", "once_tx_id"),
        Index("ix_once_attempts_signer", "chain_id", "signer", "nonce"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    once_tx_id: Mapped[int] = mapped_column(ForeignKey("once_txs.id"))
    chain_id: Mapped[int] = mapped_column(BigInteger)
    signer: Mapped[str] = mapped_column(String(42))
    nonce: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))
    raw_tx: Mapped[bytes] = mapped_column(LargeBinary)
    max_fee_per_gas: Mapped[int] = mapped_column(BigInteger)
    max_priority_fee_per_gas: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
