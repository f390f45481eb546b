"""Naming rights (backend/naming/models.py): parks, lots and their yen auctions, bidders, the
hash-chained bid log, award offers, name proposals and the town's reasons for refusing one.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "parks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("municipality_id", sa.Integer(), sa.ForeignKey("municipalities.id"), nullable=False),
        sa.Column("name_ja", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False),
        sa.Column("description_ja", sa.Text(), nullable=False),
        sa.Column("description_en", sa.Text(), nullable=False),
        sa.Column("photo_data_url", sa.Text(), nullable=False),
        sa.Column("location_ja", sa.String(300), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
    )
    op.create_index("ix_parks_municipality_id", "parks", ["municipality_id"])

    op.create_table(
        "lots",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("park_id", sa.Integer(), sa.ForeignKey("parks.id"), nullable=False),
        sa.Column("municipality_id", sa.Integer(), sa.ForeignKey("municipalities.id"), nullable=False),
        sa.Column("term_start", WHEN, nullable=False),
        sa.Column("term_end", WHEN, nullable=False),
        sa.Column("auction_start", WHEN, nullable=False),
        sa.Column("auction_end", WHEN, nullable=False),
        sa.Column("ends_at", WHEN, nullable=False),
        sa.Column("reserve_jpy", sa.Integer(), nullable=False),
        sa.Column("min_increment_jpy", sa.Integer(), nullable=True),
        sa.Column("soft_close_seconds", sa.Integer(), nullable=False),
        sa.Column("extension_seconds", sa.Integer(), nullable=False),
        sa.Column("phase", sa.String(20), nullable=False),
        sa.Column("highest_bid_jpy", sa.Integer(), nullable=True),
        sa.Column("highest_bidder_id", sa.Integer(), nullable=True),
        sa.Column("bid_count", sa.Integer(), nullable=False),
        sa.Column("log_head", sa.String(64), nullable=False),
        sa.Column("relist_count", sa.Integer(), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("contract", sa.String(42), nullable=False),
        sa.Column("chain_lot_id", sa.BigInteger(), nullable=True),
        sa.Column("chain_state", sa.String(16), nullable=False),
        sa.Column("chain_error", sa.Text(), nullable=False),
        sa.Column("awarded_to", sa.String(42), nullable=True),
        sa.Column("award_tx_hash", sa.String(66), nullable=True),
        sa.Column("term_notice_at", WHEN, nullable=True),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("staff_members.id"), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.CheckConstraint("phase IN ('auction', 'awaiting_payment', 'awarded', 'unsold')", name="ck_lots_phase"),
        sa.CheckConstraint("chain_state IN ('creating', 'ready', 'failed')", name="ck_lots_chain_state"),
        sa.CheckConstraint("term_start < term_end", name="ck_lots_term"),
        sa.CheckConstraint("auction_start < auction_end", name="ck_lots_auction"),
        sa.CheckConstraint("reserve_jpy > 0", name="ck_lots_reserve"),
    )
    op.create_index("ix_lots_park_id", "lots", ["park_id"])
    op.create_index("ix_lots_municipality_id", "lots", ["municipality_id"])
    op.create_index("ix_lots_due", "lots", ["phase", "ends_at"])

    op.create_table(
        "lot_bidders",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("lot_id", sa.Integer(), sa.ForeignKey("lots.id"), nullable=False),
        sa.Column("holder_id", sa.Integer(), sa.ForeignKey("holders.id"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("prefecture", sa.String(2), nullable=False),
        sa.Column("payment_method", sa.String(10), nullable=False),
        sa.Column("payment_state", sa.String(10), nullable=False),
        sa.Column("card_customer", sa.String(100), nullable=True),
        sa.Column("card_setup_session", sa.String(100), nullable=True),
        sa.Column("card_payment_method", sa.String(100), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.UniqueConstraint("lot_id", "holder_id", name="uq_lot_bidders_holder"),
        sa.UniqueConstraint("lot_id", "number", name="uq_lot_bidders_number"),
        sa.UniqueConstraint("card_setup_session"),
        sa.CheckConstraint("payment_method IN ('demo', 'card')", name="ck_lot_bidders_method"),
        sa.CheckConstraint("payment_state IN ('ready', 'pending')", name="ck_lot_bidders_state"),
    )
    op.create_index("ix_lot_bidders_lot_id", "lot_bidders", ["lot_id"])
    op.create_index("ix_lot_bidders_holder_id", "lot_bidders", ["holder_id"])

    op.create_table(
        "bids",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("lot_id", sa.Integer(), sa.ForeignKey("lots.id"), nullable=False),
        sa.Column("bidder_id", sa.Integer(), sa.ForeignKey("lot_bidders.id"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("amount_jpy", sa.Integer(), nullable=False),
        sa.Column("placed_at", WHEN, nullable=False),
        sa.Column("ends_at", WHEN, nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("lot_id", "seq", name="uq_bids_seq"),
        sa.UniqueConstraint("bidder_id", "idempotency_key", name="uq_bids_idempotency"),
    )
    op.create_index("ix_bids_lot_id", "bids", ["lot_id"])
    op.create_index("ix_bids_bidder_id", "bids", ["bidder_id"])

    op.create_table(
        "lot_offers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("lot_id", sa.Integer(), sa.ForeignKey("lots.id"), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("bidder_id", sa.Integer(), sa.ForeignKey("lot_bidders.id"), nullable=False),
        sa.Column("amount_jpy", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("charge_error", sa.String(100), nullable=False),
        sa.Column("pay_deadline", WHEN, nullable=True),
        sa.Column("pay_token_hash", sa.String(64), nullable=True),
        sa.Column("payment_ref", sa.String(100), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("settled_at", WHEN, nullable=True),
        sa.UniqueConstraint("lot_id", "round", name="uq_lot_offers_round"),
        sa.UniqueConstraint("pay_token_hash"),
        sa.CheckConstraint(
            "state IN ('charging', 'awaiting_payment', 'paid', 'lapsed', 'declined')", name="ck_lot_offers_state"
        ),
    )
    op.create_index("ix_lot_offers_lot_id", "lot_offers", ["lot_id"])
    op.create_index("ix_lot_offers_due", "lot_offers", ["state", "pay_deadline"])

    op.create_table(
        "name_proposals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("lot_id", sa.Integer(), sa.ForeignKey("lots.id"), nullable=False),
        sa.Column("municipality_id", sa.Integer(), sa.ForeignKey("municipalities.id"), nullable=False),
        sa.Column("proposer", sa.String(42), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("reading", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("via", sa.String(10), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("reject_code", sa.Integer(), nullable=True),
        sa.Column("reject_note", sa.Text(), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=True),
        sa.Column("chain_error", sa.Text(), nullable=False),
        sa.Column("decision_tx_hash", sa.String(66), nullable=True),
        sa.Column("decided_by", sa.Integer(), sa.ForeignKey("staff_members.id"), nullable=True),
        sa.Column("proposed_at", WHEN, nullable=False),
        sa.Column("decided_at", WHEN, nullable=True),
        sa.CheckConstraint(
            "state IN ('relaying', 'pending', 'approved', 'rejected', 'failed')", name="ck_name_proposals_state"
        ),
    )
    op.create_index("ix_name_proposals_lot_id", "name_proposals", ["lot_id"])
    op.create_index("ix_name_proposals_queue", "name_proposals", ["municipality_id", "state"])
    open_states = sa.text("state IN ('relaying', 'pending')")
    op.create_index(
        "uq_name_proposals_open",
        "name_proposals",
        ["lot_id"],
        unique=True,
        sqlite_where=open_states,
        postgresql_where=open_states,
    )

    op.create_table(
        "name_reject_reasons",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("municipality_id", sa.Integer(), sa.ForeignKey("municipalities.id"), nullable=False),
        sa.Column("code", sa.Integer(), nullable=False),
        sa.Column("label_ja", sa.String(200), nullable=False),
        sa.Column("label_en", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("municipality_id", "code", name="uq_name_reject_reasons_code"),
    )
    op.create_index("ix_name_reject_reasons_municipality_id", "name_reject_reasons", ["municipality_id"])


def downgrade() -> None:
    for table in ("name_reject_reasons", "name_proposals", "lot_offers", "bids", "lot_bidders", "lots", "parks"):
        op.drop_table(table)
