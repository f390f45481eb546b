"""Serial numbers are bounded by the drop's supply, and an expired wallet order's numbers are
reused.

A wallet order is numbered when it is made (its vouchers bind the ids). When it ran out
unredeemed, its stock went back but its numbers did not, so later payments were numbered past
the drop's supply: into the next drop's series, or outside every series. `end_serial` bounds
the numbering, and `drop_free_serials` holds the numbers that came back, handed out first.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("drop_serials") as batch:
        batch.add_column(sa.Column("end_serial", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE drop_serials SET end_serial = "
        "(SELECT drops.first_token_id + drops.supply FROM drops WHERE drops.id = drop_serials.drop_id)"
    )
    with op.batch_alter_table("drop_serials") as batch:
        batch.alter_column("end_serial", existing_type=sa.BigInteger(), nullable=False)
    op.create_table(
        "drop_free_serials",
        sa.Column("drop_id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["drop_id"], ["drops.id"]),
        sa.PrimaryKeyConstraint("drop_id", "token_id"),
    )


def downgrade() -> None:
    op.drop_table("drop_free_serials")
    with op.batch_alter_table("drop_serials") as batch:
        batch.drop_column("end_serial")
