"""Mint pipeline tables (declared in minting/store.py).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _created_at() -> sa.Column[object]:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "chain_txs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("signer", sa.String(42), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("mined_hash", sa.String(66), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("block_hash", sa.String(66), nullable=True),
        sa.Column("gas_used", sa.BigInteger(), nullable=True),
        sa.Column("last_broadcast_at", sa.DateTime(timezone=True), nullable=True),
        _created_at(),
        sa.UniqueConstraint("chain_id", "signer", "nonce", name="uq_chain_txs_nonce"),
    )
    op.create_index("ix_chain_txs_status", "chain_txs", ["status"])
    op.create_table(
        "mint_jobs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("order_ref", sa.String(100), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("contract", sa.String(42), nullable=False),
        sa.Column("token_id", sa.BigInteger(), nullable=False),
        sa.Column("recipient", sa.String(42), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("chain_tx_id", sa.Integer(), sa.ForeignKey("chain_txs.id"), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _created_at(),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("order_ref", name="uq_mint_jobs_order_ref"),
        sa.UniqueConstraint("chain_id", "contract", "token_id", name="uq_mint_jobs_token"),
    )
    op.create_index("ix_mint_jobs_status_id", "mint_jobs", ["status", "id"])
    op.create_table(
        "tx_attempts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("chain_tx_id", sa.Integer(), sa.ForeignKey("chain_txs.id"), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("raw_tx", sa.LargeBinary(), nullable=False),
        sa.Column("max_fee_per_gas", sa.BigInteger(), nullable=False),
        sa.Column("max_priority_fee_per_gas", sa.BigInteger(), nullable=False),
        _created_at(),
        sa.UniqueConstraint("tx_hash", name="uq_tx_attempts_hash"),
    )
    op.create_table(
        "signer_nonces",
        sa.Column("chain_id", sa.BigInteger(), primary_key=True),
        sa.Column("signer", sa.String(42), primary_key=True),
        sa.Column("next_nonce", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "worker_leases",
        sa.Column("chain_id", sa.BigInteger(), primary_key=True),
        sa.Column("signer", sa.String(42), primary_key=True),
        sa.Column("holder", sa.String(100), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "indexer_cursors",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(66), nullable=False),
    )
    op.create_table(
        "token_owners",
        sa.Column("chain_id", sa.BigInteger(), primary_key=True),
        sa.Column("contract", sa.String(42), primary_key=True),
        sa.Column("token_id", sa.BigInteger(), primary_key=True),
        sa.Column("owner", sa.String(42), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "token_transfers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("contract", sa.String(42), nullable=False),
        sa.Column("token_id", sa.BigInteger(), nullable=False),
        sa.Column("from_address", sa.String(42), nullable=False),
        sa.Column("to_address", sa.String(42), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(66), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_token_transfers_log"),
    )
    op.create_index("ix_token_transfers_block", "token_transfers", ["chain_id", "block_number"])
    op.create_index("ix_token_transfers_token", "token_transfers", ["chain_id", "contract", "token_id"])


def downgrade() -> None:
    for table in (
        "token_transfers",
        "token_owners",
        "indexer_cursors",
        "worker_leases",
        "signer_nonces",
        "tx_attempts",
        "mint_jobs",
        "chain_txs",
    ):
        op.drop_table(table)
