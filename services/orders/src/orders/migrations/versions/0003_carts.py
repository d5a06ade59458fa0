"""Carts and checkout: the cart projection (one cart per customer, its lines), the
product read model's stock and configuration (lines are checked and priced when added),
orders' shipping address and cart, and the delivered state.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

S = "orders"
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "carts",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("customer", sa.Text, nullable=False, unique=True),
        sa.Column("email", sa.Text, nullable=True),
        sa.Column("reminders", sa.Boolean, nullable=False, server_default="true"),
        sa.Column("last_activity_at", TZ, nullable=False),
        sa.Column("reminded_for", TZ, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        schema=S,
    )
    op.create_index("ix_carts_last_activity", "carts", ["last_activity_at"], schema=S)
    op.create_table(
        "cart_lines",
        sa.Column("cart_id", sa.Uuid, primary_key=True),
        sa.Column("line_id", sa.Uuid, primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("product_id", sa.Uuid, nullable=False),
        sa.Column("sku", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("base_product_id", sa.Uuid, nullable=True),
        sa.Column("options", postgresql.JSONB, nullable=False, server_default="[]"),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("unit_price", sa.Numeric(12, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        schema=S,
    )
    op.add_column(
        "products", sa.Column("stock", sa.Integer, nullable=False, server_default="0"), schema=S
    )
    op.add_column(
        "products",
        sa.Column("configuration", postgresql.JSONB, nullable=False, server_default="{}"),
        schema=S,
    )
    op.add_column(
        "products",
        sa.Column("selection", postgresql.JSONB, nullable=False, server_default="[]"),
        schema=S,
    )
    op.add_column("orders", sa.Column("cart_id", sa.Uuid, nullable=True), schema=S)
    op.add_column("orders", sa.Column("address", postgresql.JSONB, nullable=True), schema=S)
    op.create_index(
        "ix_orders_customer_status_id", "orders", ["customer", "status", "id"], schema=S
    )


def downgrade() -> None:
    op.drop_index("ix_orders_customer_status_id", "orders", schema=S)
    op.drop_column("orders", "address", schema=S)
    op.drop_column("orders", "cart_id", schema=S)
    op.drop_column("products", "selection", schema=S)
    op.drop_column("products", "configuration", schema=S)
    op.drop_column("products", "stock", schema=S)
    op.drop_table("cart_lines", schema=S)
    op.drop_index("ix_carts_last_activity", "carts", schema=S)
    op.drop_table("carts", schema=S)
