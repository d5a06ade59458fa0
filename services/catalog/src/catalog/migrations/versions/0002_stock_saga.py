"""Stock saga: reservations per (order, product), and the consumer's ledger tables.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from marcus_eventstore.migrations import create_ledger_tables, drop_ledger_tables

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

S = "catalog"


def upgrade() -> None:
    op.create_table(
        "reservations",
        sa.Column("order_id", sa.Uuid, primary_key=True),
        sa.Column("product_id", sa.Uuid, primary_key=True),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reserved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        schema=S,
    )
    create_ledger_tables(op, S)


def downgrade() -> None:
    drop_ledger_tables(op, S)
    op.drop_table("reservations", schema=S)
