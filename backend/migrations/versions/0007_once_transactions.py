"""Exactly-once administrative transactions (declared in minting/store.py): a town's
deployment and configuration, a drop's series, each sent once per purpose string.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "once_txs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("purpose", sa.String(200), nullable=False),
        sa.Column("signer", sa.String(42), nullable=False),
        sa.Column("to_address", sa.String(42), nullable=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("value", sa.String(78), nullable=False),
        sa.Column("gas", sa.BigInteger(), nullable=False),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("receipt_status", sa.Integer(), nullable=True),
        sa.Column("contract_address", sa.String(42), nullable=True),
        sa.Column("logs_json", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mined_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("chain_id", "purpose", name="uq_once_txs_purpose"),
    )
    op.create_table(
        "once_attempts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("once_tx_id", sa.Integer(), sa.ForeignKey("once_txs.id"), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("signer", sa.String(42), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("raw_tx", sa.LargeBinary(), nullable=False),
        sa.Column("max_fee_per_gas", sa.BigInteger(), nullable=False),
        sa.Column("max_priority_fee_per_gas", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tx_hash", name="uq_once_attempts_hash"),
    )
    op.create_index("ix_once_attempts_tx", "once_attempts", ["once_tx_id"])
    op.create_index("ix_once_attempts_signer", "once_attempts", ["chain_id", "signer", "nonce"])


def downgrade() -> None:
    op.drop_index("ix_once_attempts_signer", table_name="once_attempts")
    op.drop_index("ix_once_attempts_tx", table_name="once_attempts")
    op.drop_table("once_attempts")
    op.drop_table("once_txs")
