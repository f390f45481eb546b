"""Relationship-population analytics (backend/analytics/models.py): the change queue, the
rollup's cursors, people with their stored contribution, addresses and years, the rollup
counts, premium reviews and data requests; the town's statistics threshold, data-request
deadline and premium rule; a spot's activity; indexes the rollup reads people by.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analytics_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("municipality_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('email', 'address', 'scan', 'town')", name="ck_analytics_changes_kind"),
        sa.ForeignKeyConstraint(["municipality_id"], ["municipalities.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "analytics_cursors",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "analytics_people",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("municipality_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("prefecture", sa.String(length=2), nullable=False),
        sa.Column("resident", sa.Boolean(), nullable=False),
        sa.Column("cards", sa.Integer(), nullable=False),
        sa.Column("first_card_day", sa.String(length=10), nullable=True),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("contribution", sa.Text(), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["municipality_id"], ["municipalities.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("municipality_id", "email", name="uq_analytics_people_email"),
    )
    op.create_index("ix_analytics_people_town_resident", "analytics_people", ["municipality_id", "resident"])
    op.create_table(
        "analytics_person_addresses",
        sa.Column("municipality_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["municipality_id"], ["municipalities.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["analytics_people.id"]),
        sa.PrimaryKeyConstraint("municipality_id", "address"),
    )
    op.create_index("ix_analytics_person_addresses_person", "analytics_person_addresses", ["person_id"])
    op.create_table(
        "analytics_person_years",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("municipality_id", sa.Integer(), nullable=False),
        sa.Column("visit_days", sa.Integer(), nullable=False),
        sa.Column("check_ins", sa.Integer(), nullable=False),
        sa.Column("redemptions", sa.Integer(), nullable=False),
        sa.Column("votes", sa.Integer(), nullable=False),
        sa.Column("designated", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("flags", sa.String(length=120), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["municipality_id"], ["municipalities.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["analytics_people.id"]),
        sa.PrimaryKeyConstraint("person_id", "year"),
    )
    op.create_index(
        "ix_analytics_person_years_candidates", "analytics_person_years", ["municipality_id", "year", "designated"]
    )
    op.create_table(
        "analytics_counts",
        sa.Column("municipality_id", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("dim1", sa.String(length=64), nullable=False),
        sa.Column("dim2", sa.String(length=64), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["municipality_id"], ["municipalities.id"]),
        sa.PrimaryKeyConstraint("municipality_id", "metric", "dim1", "dim2", "day"),
    )
    op.create_index("ix_analytics_counts_day", "analytics_counts", ["municipality_id", "metric", "day"])
    op.create_table(
        "premium_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("municipality_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("decision IN ('approved', 'declined')", name="ck_premium_reviews_decision"),
        sa.ForeignKeyConstraint(["municipality_id"], ["municipalities.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["analytics_people.id"]),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_members.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("person_id", "year", name="uq_premium_reviews_year"),
    )
    op.create_index("ix_premium_reviews_municipality_id", "premium_reviews", ["municipality_id"])
    op.create_table(
        "data_requests",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("municipality_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_by", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.CheckConstraint("kind IN ('deletion', 'export')", name="ck_data_requests_kind"),
        sa.CheckConstraint("status IN ('pending', 'completed', 'declined')", name="ck_data_requests_status"),
        sa.ForeignKeyConstraint(["municipality_id"], ["municipalities.id"]),
        sa.ForeignKeyConstraint(["completed_by"], ["staff_members.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_data_requests_town_status", "data_requests", ["municipality_id", "status", "due_at"])
    with op.batch_alter_table("municipalities") as batch:
        batch.add_column(sa.Column("stats_threshold", sa.Integer(), nullable=False, server_default="5"))
        batch.add_column(sa.Column("data_request_days", sa.Integer(), nullable=False, server_default="30"))
        batch.add_column(
            sa.Column(
                "premium_activities",
                sa.String(length=200),
                nullable=False,
                server_default="event,volunteer,work,telework,vote,naming",
            )
        )
        batch.add_column(sa.Column("premium_threshold", sa.Integer(), nullable=False, server_default="3"))
        batch.create_check_constraint("ck_municipalities_stats_threshold", "stats_threshold >= 3")
    with op.batch_alter_table("spots") as batch:
        batch.add_column(sa.Column("activity", sa.String(length=12), nullable=False, server_default="leisure"))
    op.create_index("ix_check_ins_town_address", "check_ins", ["municipality_id", "address"])
    op.create_index("ix_redemptions_town_holder", "redemptions", ["municipality_id", "holder_address"])
    op.create_index("ix_orders_recipient", "orders", ["recipient"])
    op.create_index("ix_orders_wallet", "orders", ["wallet_address"])
    op.create_index("ix_token_transfers_from", "token_transfers", ["from_address"])


def downgrade() -> None:
    op.drop_index("ix_token_transfers_from", table_name="token_transfers")
    op.drop_index("ix_orders_wallet", table_name="orders")
    op.drop_index("ix_orders_recipient", table_name="orders")
    op.drop_index("ix_redemptions_town_holder", table_name="redemptions")
    op.drop_index("ix_check_ins_town_address", table_name="check_ins")
    with op.batch_alter_table("spots") as batch:
        batch.drop_column("activity")
    with op.batch_alter_table("municipalities") as batch:
        batch.drop_constraint("ck_municipalities_stats_threshold", type_="check")
        batch.drop_column("premium_threshold")
        batch.drop_column("premium_activities")
        batch.drop_column("data_request_days")
        batch.drop_column("stats_threshold")
    for index, table in (
        ("ix_data_requests_town_status", "data_requests"),
        ("ix_premium_reviews_municipality_id", "premium_reviews"),
        ("ix_analytics_counts_day", "analytics_counts"),
        ("ix_analytics_person_years_candidates", "analytics_person_years"),
        ("ix_analytics_person_addresses_person", "analytics_person_addresses"),
        ("ix_analytics_people_town_resident", "analytics_people"),
    ):
        op.drop_index(index, table_name=table)
    for table in (
        "data_requests",
        "premium_reviews",
        "analytics_counts",
        "analytics_person_years",
        "analytics_person_addresses",
        "analytics_people",
        "analytics_cursors",
        "analytics_changes",
    ):
        op.drop_table(table)
