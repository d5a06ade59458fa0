"""Drop `reservation_receipts`: nothing writes it since the catalog answers each order
with one `catalog.stock.allocated` (or `.rejected`) event instead of one event per
product (ADR 0018).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

S = "orders"


def upgrade() -> None:
    op.drop_table("reservation_receipts", schema=S)


def downgrade() -> None:
    op.create_table(
        "reservation_receipts",
        sa.Column("order_id", sa.Uuid, primary_key=True),
        sa.Column("product_id", sa.Uuid, primary_key=True),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
        ),
        schema=S,
    )
