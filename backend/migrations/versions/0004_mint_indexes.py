"""Indexes the mint pipeline's per-batch updates need: jobs and attempts by their transaction.

Without them each batch's `UPDATE mint_jobs … WHERE chain_tx_id = …` scanned every job ever
queued, so the pipeline slowed as the table grew (10,000 jobs: ~0.2× the node's ceiling).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_mint_jobs_chain_tx", "mint_jobs", ["chain_tx_id"])
    op.create_index("ix_tx_attempts_chain_tx", "tx_attempts", ["chain_tx_id"])


def downgrade() -> None:
    op.drop_index("ix_tx_attempts_chain_tx", table_name="tx_attempts")
    op.drop_index("ix_mint_jobs_chain_tx", table_name="mint_jobs")
