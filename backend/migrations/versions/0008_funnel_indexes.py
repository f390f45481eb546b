"""Indexes for the campaign funnel: orders by the code they carry, and scans by campaign, bot
flag and visitor (counting distinct visitors was the funnel's slowest part at 100,000 scans).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_orders_campaign", "orders", ["campaign_code"])
    op.create_index("ix_campaign_scans_funnel", "campaign_scans", ["campaign_id", "bot", "visitor"])


def downgrade() -> None:
    op.drop_index("ix_campaign_scans_funnel", table_name="campaign_scans")
    op.drop_index("ix_orders_campaign", table_name="orders")
