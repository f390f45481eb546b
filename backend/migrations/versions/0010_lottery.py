"""Lottery sales (backend/lottery/models.py): one lottery per lottery drop (its committed seed,
the fixed list, the anchor, the draw), its applications and its promotion rounds.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "lotteries",
        sa.Column("drop_id", sa.Integer(), sa.ForeignKey("drops.id"), primary_key=True),
        sa.Column("algorithm", sa.String(32), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("server_seed_enc", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("seed_commitment", sa.String(64), nullable=False),
        sa.Column("server_seed", sa.String(64), nullable=True),
        sa.Column("closed_at", WHEN, nullable=True),
        sa.Column("applications_close_at", WHEN, nullable=True),
        sa.Column("draw_at", WHEN, nullable=True),
        sa.Column("pay_within_hours", sa.Integer(), nullable=True),
        sa.Column("supply", sa.Integer(), nullable=True),
        sa.Column("entries_count", sa.Integer(), nullable=True),
        sa.Column("list_hash", sa.String(64), nullable=True),
        sa.Column("anchor_attempt", sa.Integer(), nullable=False),
        sa.Column("anchor_chain_id", sa.BigInteger(), nullable=True),
        sa.Column("anchor_from", sa.String(42), nullable=True),
        sa.Column("anchor_tx_hash", sa.String(66), nullable=True),
        sa.Column("anchor_block_number", sa.BigInteger(), nullable=True),
        sa.Column("anchor_block_hash", sa.String(66), nullable=True),
        sa.Column("final_seed", sa.String(64), nullable=True),
        sa.Column("drawn_at", WHEN, nullable=True),
        sa.Column("rounds", sa.Integer(), nullable=False),
        sa.Column("settled_at", WHEN, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.CheckConstraint("stage IN ('announced', 'closed', 'ranked', 'drawn', 'settled')", name="ck_lotteries_stage"),
    )

    op.create_table(
        "lottery_applications",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("drop_id", sa.Integer(), sa.ForeignKey("lotteries.drop_id"), nullable=False),
        sa.Column("entry_id", sa.String(32), nullable=False, unique=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("prefecture", sa.String(2), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("wallet_address", sa.String(42), nullable=True),
        sa.Column("campaign_code", sa.String(64), nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("token_enc", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("deadline", WHEN, nullable=True),
        sa.Column("promoted_round", sa.Integer(), nullable=True),
        sa.Column("lapsed_round", sa.Integer(), nullable=True),
        sa.Column("order_id", sa.String(40), sa.ForeignKey("orders.id"), nullable=True, unique=True),
        sa.Column("order_token_enc", sa.LargeBinary(), nullable=True),
        sa.Column("mail_due", sa.Boolean(), nullable=False),
        sa.Column("mail_seq", sa.Integer(), nullable=False),
        sa.Column("mailed", sa.String(16), nullable=True),
        sa.UniqueConstraint("drop_id", "email", name="uq_lottery_applications_email"),
        sa.UniqueConstraint("drop_id", "wallet_address", name="uq_lottery_applications_wallet"),
        sa.CheckConstraint("quantity >= 1", name="ck_lottery_applications_quantity"),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('won', 'waitlisted')", name="ck_lottery_applications_outcome"
        ),
    )
    op.create_index("ix_lottery_applications_rank", "lottery_applications", ["drop_id", "outcome", "rank"])
    op.create_index("ix_lottery_applications_mail", "lottery_applications", ["mail_due"])

    op.create_table(
        "lottery_rounds",
        sa.Column("drop_id", sa.Integer(), sa.ForeignKey("lotteries.drop_id"), primary_key=True),
        sa.Column("round", sa.Integer(), primary_key=True),
        sa.Column("at", WHEN, nullable=False),
        sa.Column("lapsed", sa.Text(), nullable=False),
        sa.Column("promoted", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("lottery_rounds")
    op.drop_index("ix_lottery_applications_mail", table_name="lottery_applications")
    op.drop_index("ix_lottery_applications_rank", table_name="lottery_applications")
    op.drop_table("lottery_applications")
    op.drop_table("lotteries")
