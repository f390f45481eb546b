"""Mint jobs: enqueue once per order, and read them back as typed states.

States as types (each carries only what is true in it):

    QueuedJob ──send──▶ SentJob ──mined──▶ MinedJob ──depth──▶ ConfirmedJob
        └──────────────────────────────────────────────────────▶ FailedJob

A job's `order_ref` is unique: enqueueing the same order twice is a no-op. So is a second
job for a (contract, token id) pair: a token id is minted for one order only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from web3 import Web3

from minting.store import ChainTxRow, MintJobRow, insert_for

STATUSES = ("queued", "sent", "mined", "confirmed", "failed")


@dataclass(frozen=True)
class QueuedJob:
    """Waiting for a batch."""

    order_ref: str
    chain_id: int
    contract: str
    token_id: int
    recipient: str


@dataclass(frozen=True)
class SentJob(QueuedJob):
    """In a signed, stored transaction (broadcast, or about to be after a crash)."""

    nonce: int


@dataclass(frozen=True)
class MinedJob(SentJob):
    """In a block, not yet as deep as the configured confirmation depth."""

    tx_hash: str
    block_number: int


@dataclass(frozen=True)
class ConfirmedJob(MinedJob):
    """Done: the card exists on chain at the configured depth."""


@dataclass(frozen=True)
class FailedJob(QueuedJob):
    """Given up, with the reason (e.g. the contract refuses the id)."""

    error: str


MintJob = QueuedJob | SentJob | MinedJob | ConfirmedJob | FailedJob


@dataclass(frozen=True)
class NewJob:
    """What the backend hands over when an order is paid."""

    order_ref: str
    contract: str
    token_id: int
    recipient: str


def enqueue(session: Session, chain_id: int, jobs: Iterable[NewJob]) -> int:
    """Insert jobs, skipping any whose order or token is already queued; return how many were new.

    Runs in the caller's transaction, so an order's payment and its mint job commit together.
    Raises `ValueError` for the zero address: minting to it reverts the whole batch, so one such
    job would fail every other job sent beside it.
    """
    jobs = list(jobs)
    for job in jobs:
        if int(job.recipient, 16) == 0:
            raise ValueError(f"job {job.order_ref}: a card cannot be minted to the zero address")
    rows = [
        {
            "order_ref": job.order_ref,
            "chain_id": chain_id,
            "contract": Web3.to_checksum_address(job.contract),
            "token_id": job.token_id,
            "recipient": Web3.to_checksum_address(job.recipient),
            "status": "queued",
        }
        for job in jobs
    ]
    if not rows:
        return 0
    insert = insert_for(session)
    statement = insert(MintJobRow).values(rows).on_conflict_do_nothing()
    result = session.execute(statement.execution_options(preserve_rowcount=True))  # PostgreSQL: else -1
    return int(getattr(result, "rowcount", 0) or 0)


def job_state(session: Session, order_ref: str) -> MintJob | None:
    """The typed state of the job for `order_ref`, or None."""
    row = session.scalar(select(MintJobRow).where(MintJobRow.order_ref == order_ref))
    if row is None:
        return None
    base = QueuedJob(row.order_ref, row.chain_id, row.contract, row.token_id, row.recipient)
    if row.status == "queued":
        return base
    if row.status == "failed":
        return FailedJob(**base.__dict__, error=row.last_error or "failed")
    tx = session.get(ChainTxRow, row.chain_tx_id) if row.chain_tx_id is not None else None
    if tx is None:
        return base
    if row.status == "sent" or tx.mined_hash is None or tx.block_number is None:
        return SentJob(**base.__dict__, nonce=tx.nonce)
    if row.status == "confirmed":
        return ConfirmedJob(**base.__dict__, nonce=tx.nonce, tx_hash=tx.mined_hash, block_number=tx.block_number)
    return MinedJob(**base.__dict__, nonce=tx.nonce, tx_hash=tx.mined_hash, block_number=tx.block_number)


def status_counts(session: Session) -> dict[str, int]:
    """Jobs per status (every status present, zero included)."""
    counts = dict.fromkeys(STATUSES, 0)
    for status, count in session.execute(select(MintJobRow.status, func.count()).group_by(MintJobRow.status)):
        counts[status] = int(count)
    return counts
