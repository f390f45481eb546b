"""The town's side: towns' own contracts and look, staff with roles, sign-in codes, sessions,
invites, the audit log, shared rate-limit counters, drop drafts, campaigns and refunds.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ROLES = "('owner', 'editor', 'moderator', 'analyst', 'verifier')"


def _created_at() -> sa.Column[sa.DateTime]:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("municipalities") as batch:
        batch.add_column(sa.Column("card_contract", sa.String(42), nullable=True))
        batch.add_column(sa.Column("rights_contract", sa.String(42), nullable=True))
        batch.add_column(sa.Column("contracts_state", sa.String(16), nullable=False, server_default="ready"))
        batch.add_column(sa.Column("treasury", sa.String(42), nullable=True))
        batch.add_column(sa.Column("royalty_receiver", sa.String(42), nullable=True))
        batch.add_column(sa.Column("royalty_bps", sa.Integer(), nullable=False, server_default="1000"))
        batch.add_column(sa.Column("brand_colour", sa.String(7), nullable=False, server_default="#1f6f5c"))
        batch.add_column(sa.Column("logo_data_url", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("editors_may_refund", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("drops") as batch:
        batch.alter_column("series_id", existing_type=sa.Integer(), nullable=True)
        batch.alter_column("first_token_id", existing_type=sa.BigInteger(), nullable=True)
        batch.add_column(sa.Column("status", sa.String(16), nullable=False, server_default="live"))
        batch.add_column(sa.Column("soulbound", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("applications_close_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("draw_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("pay_within_hours", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("publish_error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("order_cards") as batch:
        batch.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "staff_members",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        _created_at(),
    )
    op.create_table(
        "staff_roles",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("municipality_id", sa.Integer(), sa.ForeignKey("municipalities.id"), nullable=False, index=True),
        sa.Column("staff_id", sa.Integer(), sa.ForeignKey("staff_members.id"), nullable=False, index=True),
        sa.Column("role", sa.String(16), nullable=False),
        _created_at(),
        sa.UniqueConstraint("municipality_id", "staff_id", name="uq_staff_roles_member"),
        sa.CheckConstraint(f"role IN {ROLES}", name="ck_staff_roles_role"),
    )
    op.create_table(
        "staff_sign_in_codes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        _created_at(),
    )
    op.create_index("ix_staff_sign_in_codes_email", "staff_sign_in_codes", ["email", "created_at"])
    op.create_table(
        "staff_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("staff_id", sa.Integer(), sa.ForeignKey("staff_members.id"), nullable=False, index=True),
        sa.Column("csrf_hash", sa.String(64), nullable=False),
        _created_at(),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "staff_invites",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("municipality_id", sa.Integer(), sa.ForeignKey("municipalities.id"), nullable=False, index=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("invited_by", sa.Integer(), sa.ForeignKey("staff_members.id"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        _created_at(),
        sa.CheckConstraint(f"role IN {ROLES}", name="ck_staff_invites_role"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("municipality_id", sa.Integer(), sa.ForeignKey("municipalities.id"), nullable=True, index=True),
        sa.Column("actor", sa.String(320), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_type", sa.String(32), nullable=False),
        sa.Column("target_id", sa.String(64), nullable=False),
        sa.Column("before", sa.Text(), nullable=False),
        sa.Column("after", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
    )
    op.create_index("ix_audit_log_town_target", "audit_log", ["municipality_id", "target_type", "target_id"])
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "rate_counters",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("window_start", sa.BigInteger(), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("municipality_id", sa.Integer(), sa.ForeignKey("municipalities.id"), nullable=False, index=True),
        sa.Column("drop_id", sa.Integer(), sa.ForeignKey("drops.id"), nullable=False, index=True),
        sa.Column("code", sa.String(32), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        _created_at(),
    )
    op.create_table(
        "campaign_scans",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("campaign_id", sa.Integer(), sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("visitor", sa.String(64), nullable=False),
        sa.Column("bot", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_campaign_scans_campaign_day", "campaign_scans", ["campaign_id", "day", "visitor"])
    op.create_table(
        "refunds",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("order_id", sa.String(40), sa.ForeignKey("orders.id"), nullable=False, unique=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("staff_id", sa.Integer(), sa.ForeignKey("staff_members.id"), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("provider_ref", sa.String(200), nullable=True),
        sa.Column("amount_jpy", sa.Integer(), nullable=False),
        sa.Column("failure", sa.Text(), nullable=True),
        _created_at(),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    for table in (
        "refunds",
        "campaign_scans",
        "campaigns",
        "rate_counters",
        "audit_head",
        "audit_log",
        "staff_invites",
        "staff_sessions",
        "staff_sign_in_codes",
        "staff_roles",
        "staff_members",
    ):
        op.drop_table(table)
    with op.batch_alter_table("order_cards") as batch:
        batch.drop_column("revoked_at")
    with op.batch_alter_table("drops") as batch:
        for column in ("published_at", "publish_error", "pay_within_hours", "draw_at", "applications_close_at"):
            batch.drop_column(column)
        batch.drop_column("soulbound")
        batch.drop_column("status")
    with op.batch_alter_table("municipalities") as batch:
        for column in (
            "editors_may_refund",
            "logo_data_url",
            "brand_colour",
            "royalty_bps",
            "royalty_receiver",
            "treasury",
            "contracts_state",
            "rights_contract",
            "card_contract",
        ):
            batch.drop_column(column)
