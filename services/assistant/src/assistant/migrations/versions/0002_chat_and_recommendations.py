"""Chat sessions (event store, outbox, sessions, messages), the orders read model,
co-purchase counts, the best-sellers materialized view, the consumer ledger.

Revision ID: 0002
Revises: 0001
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

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

S = "assistant"
TZ = sa.DateTime(timezone=True)

BEST_SELLERS = f"""
CREATE MATERIALIZED VIEW {S}.best_sellers AS
SELECT l.product_id,
       sum(l.quantity)::bigint AS units,
       count(*)::bigint AS orders,
       (array_agg(l.name ORDER BY o.confirmed_at DESC))[1] AS name
FROM {S}.purchase_lines l
JOIN {S}.purchased_orders o ON o.order_id = l.order_id
WHERE o.status = 'counted' AND o.confirmed_at > now() - interval '30 days'
GROUP BY l.product_id
WITH DATA
"""


def upgrade() -> None:
    create_event_store_tables(op, S)
    op.create_table(
        "sessions",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("customer", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False, server_default=""),
        sa.Column("message_count", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        schema=S,
    )
    op.create_index("ix_sessions_customer", "sessions", ["customer", "updated_at"], schema=S)
    op.create_table(
        "messages",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("session_id", sa.Uuid, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("reply_to", sa.Uuid, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("degraded_reason", sa.String(32), nullable=True),
        sa.Column("cited_products", postgresql.JSONB, nullable=False, server_default="[]"),
        sa.Column("tools_called", postgresql.JSONB, nullable=False, server_default="[]"),
        sa.Column("model", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("session_id", "position", name="uq_messages_session_position"),
        schema=S,
    )
    op.create_table(
        "customer_orders",
        sa.Column("order_id", sa.Uuid, primary_key=True),
        sa.Column("customer", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("total", sa.Numeric(12, 2), nullable=True),
        sa.Column("lines", postgresql.JSONB, nullable=False),
        sa.Column("reasons", postgresql.JSONB, nullable=False, server_default="[]"),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("placed_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        schema=S,
    )
    op.create_index(
        "ix_customer_orders_customer", "customer_orders", ["customer", "placed_at"], schema=S
    )
    op.create_table(
        "purchased_orders",
        sa.Column("order_id", sa.Uuid, primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("confirmed_at", TZ, nullable=False),
        schema=S,
    )
    op.create_table(
        "purchase_lines",
        sa.Column("order_id", sa.Uuid, primary_key=True),
        sa.Column("product_id", sa.Uuid, primary_key=True),
        sa.Column("sku", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("unit_price", sa.Numeric(12, 2), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        schema=S,
    )
    op.create_table(
        "co_purchases",
        sa.Column("product_id", sa.Uuid, primary_key=True),
        sa.Column("other_id", sa.Uuid, primary_key=True),
        sa.Column("orders", sa.BigInteger, nullable=False),
        schema=S,
    )
    op.create_index(
        "ix_co_purchases_rank",
        "co_purchases",
        ["product_id", sa.text("orders DESC")],
        schema=S,
    )
    create_ledger_tables(op, S)
    op.execute(BEST_SELLERS)
    # REFRESH ... CONCURRENTLY needs a unique index on plain columns.
    op.execute(f"CREATE UNIQUE INDEX ux_best_sellers_product ON {S}.best_sellers (product_id)")


def downgrade() -> None:
    op.execute(f"DROP MATERIALIZED VIEW IF EXISTS {S}.best_sellers")
    drop_ledger_tables(op, S)
    for table in (
        "co_purchases",
        "purchase_lines",
        "purchased_orders",
        "customer_orders",
        "messages",
        "sessions",
    ):
        op.drop_table(table, schema=S)
    drop_event_store_tables(op, S)
