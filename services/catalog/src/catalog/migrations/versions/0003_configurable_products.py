"""Configurable and preconfigured products: product kind and base product; parts,
options, incompatibilities, price rules, the options of preconfigured products, and
option reservations of the stock saga.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

S = "catalog"
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column(
        "products",
        sa.Column("kind", sa.String(16), nullable=False, server_default="simple"),
        schema=S,
    )
    op.add_column("products", sa.Column("base_product_id", sa.Uuid, nullable=True), schema=S)
    op.create_index(
        "ix_products_base_product_id",
        "products",
        ["base_product_id"],
        schema=S,
        postgresql_where=sa.text("base_product_id IS NOT NULL"),
    )
    op.create_table(
        "parts",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("product_id", sa.Uuid, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("required", sa.Boolean, nullable=False),
        schema=S,
    )
    op.create_index("ix_parts_product_id", "parts", ["product_id", "position"], schema=S)
    op.create_table(
        "options",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("product_id", sa.Uuid, nullable=False),
        sa.Column("part_id", sa.Uuid, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("price", sa.Numeric(12, 2), nullable=False),
        sa.Column("stock", sa.BigInteger, nullable=False),
        schema=S,
    )
    op.create_index(
        "ix_options_product_id", "options", ["product_id", "part_id", "position"], schema=S
    )
    op.create_table(
        "incompatibilities",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("product_id", sa.Uuid, nullable=False),
        sa.Column("first_option_id", sa.Uuid, nullable=False),
        sa.Column("second_option_id", sa.Uuid, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        schema=S,
    )
    op.create_index(
        "ix_incompatibilities_product_id", "incompatibilities", ["product_id"], schema=S
    )
    op.create_table(
        "price_rules",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("product_id", sa.Uuid, nullable=False),
        sa.Column("option_id", sa.Uuid, nullable=False),
        sa.Column("when_option_id", sa.Uuid, nullable=False),
        sa.Column("price", sa.Numeric(12, 2), nullable=False),
        schema=S,
    )
    op.create_index("ix_price_rules_product_id", "price_rules", ["product_id"], schema=S)
    op.create_table(
        "preset_options",
        sa.Column("preset_id", sa.Uuid, primary_key=True),
        sa.Column("option_id", sa.Uuid, primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("part_id", sa.Uuid, nullable=False),
        sa.Column("part_name", sa.String(200), nullable=False),
        sa.Column("option_name", sa.String(200), nullable=False),
        schema=S,
    )
    op.create_table(
        "option_reservations",
        sa.Column("order_id", sa.Uuid, primary_key=True),
        sa.Column("option_id", sa.Uuid, primary_key=True),
        sa.Column("product_id", sa.Uuid, nullable=False),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reserved_at", TZ, nullable=False),
        sa.Column("released_at", TZ, nullable=True),
        schema=S,
    )


def downgrade() -> None:
    for table in (
        "option_reservations",
        "preset_options",
        "price_rules",
        "incompatibilities",
        "options",
        "parts",
    ):
        op.drop_table(table, schema=S)
    op.drop_index("ix_products_base_product_id", "products", schema=S)
    op.drop_column("products", "base_product_id", schema=S)
    op.drop_column("products", "kind", schema=S)
