"""Orders schema: event store, outbox, orders, order lines, product read model,
reservation receipts, idempotency keys, placement retries, consumer ledger.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from marcus_eventstore.migrations import (
    create_event_store_tables,
    create_ledger_tables,
    drop_event_store_tables,
    drop_ledger_tables,
)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

S = "orders"
NOW = sa.func.now()
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    create_event_store_tables(op, S)
    op.create_table(
        "orders",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("customer", sa.Text, nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("total", sa.Numeric(12, 2), nullable=False),
        sa.Column("reasons", postgresql.JSONB, nullable=False, server_default="[]"),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        schema=S,
    )
    op.create_index("ix_orders_customer_id", "orders", ["customer", "id"], schema=S)
    op.create_index(
        "ix_orders_pending",
        "orders",
        ["created_at"],
        schema=S,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "order_lines",
        sa.Column("order_id", sa.Uuid, primary_key=True),
        sa.Column("line_no", sa.Integer, primary_key=True),
        sa.Column("product_id", sa.Uuid, nullable=False),
        sa.Column("sku", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("unit_price", sa.Numeric(12, 2), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("line_total", sa.Numeric(12, 2), nullable=False),
        schema=S,
    )
    op.create_table(
        "products",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("sku", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("price", sa.Numeric(12, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        schema=S,
    )
    op.create_table(
        "reservation_receipts",
        sa.Column("order_id", sa.Uuid, primary_key=True),
        sa.Column("product_id", sa.Uuid, primary_key=True),
        sa.Column("received_at", TZ, nullable=False, server_default=NOW),
        schema=S,
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("customer", sa.Text, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("request_hash", sa.Text, nullable=False),
        sa.Column("order_id", sa.Uuid, nullable=False),
        sa.Column("created_at", TZ, nullable=False, server_default=NOW),
        schema=S,
    )
    op.create_table(
        "placement_retries",
        sa.Column("order_id", sa.Uuid, primary_key=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_at", TZ, nullable=False),
        schema=S,
    )
    create_ledger_tables(op, S)


def downgrade() -> None:
    drop_ledger_tables(op, S)
    for table in (
        "placement_retries",
        "idempotency_keys",
        "reservation_receipts",
        "products",
        "order_lines",
        "orders",
    ):
        op.drop_table(table, schema=S)
    drop_event_store_tables(op, S)
