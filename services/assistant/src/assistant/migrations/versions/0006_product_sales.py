"""Units sold per product and day, kept by the consumer from order events (confirmed
adds, cancelled subtracts): best sellers in real time (ADR 0005). Filled from the
purchases counted so far.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

S = "assistant"

BACKFILL = f"""
INSERT INTO {S}.product_sales (product_id, day, units, orders)
SELECT l.product_id, (o.confirmed_at AT TIME ZONE 'UTC')::date, sum(l.quantity), count(*)
FROM {S}.purchase_lines l
JOIN {S}.purchased_orders o ON o.order_id = l.order_id
WHERE o.status = 'counted'
GROUP BY 1, 2
"""


def upgrade() -> None:
    op.create_table(
        "product_sales",
        sa.Column("product_id", sa.Uuid, primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("units", sa.BigInteger, nullable=False),
        sa.Column("orders", sa.BigInteger, nullable=False),
        schema=S,
    )
    op.create_index("ix_product_sales_day", "product_sales", ["day"], schema=S)
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_table("product_sales", schema=S)
