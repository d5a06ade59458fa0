"""Configured, catalog-priced lines: order lines carry their kind, base product and
options, and have no price until the catalog priced them (nor the order a total); the
product read model knows each product's kind and base product.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

S = "orders"


def upgrade() -> None:
    op.alter_column("orders", "total", nullable=True, schema=S)
    op.alter_column("order_lines", "unit_price", nullable=True, schema=S)
    op.alter_column("order_lines", "line_total", nullable=True, schema=S)
    op.add_column(
        "order_lines",
        sa.Column("kind", sa.String(16), nullable=False, server_default="simple"),
        schema=S,
    )
    op.add_column("order_lines", sa.Column("base_product_id", sa.Uuid, nullable=True), schema=S)
    op.add_column(
        "order_lines",
        sa.Column("options", postgresql.JSONB, nullable=False, server_default="[]"),
        schema=S,
    )
    op.add_column(
        "products",
        sa.Column("kind", sa.String(16), nullable=False, server_default="simple"),
        schema=S,
    )
    op.add_column("products", sa.Column("base_product_id", sa.Uuid, nullable=True), schema=S)


def downgrade() -> None:
    op.drop_column("products", "base_product_id", schema=S)
    op.drop_column("products", "kind", schema=S)
    op.drop_column("order_lines", "options", schema=S)
    op.drop_column("order_lines", "base_product_id", schema=S)
    op.drop_column("order_lines", "kind", schema=S)
    op.alter_column("order_lines", "line_total", nullable=False, schema=S)
    op.alter_column("order_lines", "unit_price", nullable=False, schema=S)
    op.alter_column("orders", "total", nullable=False, schema=S)
