"""Orders schema: event store, outbox, orders, order lines, product read model,
reservation receipts, idempotency keys, placement retries, consumer ledger.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

S = "orders"
NOW = sa.func.now()
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("position", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("id", sa.Uuid, nullable=False, unique=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("dataversion", sa.Integer, nullable=False),
        sa.Column("time", TZ, nullable=False),
        sa.Column("envelope", postgresql.JSON, nullable=False),
        sa.UniqueConstraint("subject", "sequence", name="uq_events_subject_sequence"),
        schema=S,
    )
    op.create_index("ix_orders_events_type", "events", ["type"], schema=S)
    op.create_table(
        "outbox",
        sa.Column(
            "position",
            sa.BigInteger,
            sa.ForeignKey(f"{S}.events.position", ondelete="CASCADE"),
            primary_key=True,
        ),
        schema=S,
    )
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
    op.create_table(
        "processed_events",
        sa.Column("consumer_group", sa.Text, primary_key=True),
        sa.Column("event_id", sa.Uuid, primary_key=True),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("stream", sa.Text, nullable=False),
        sa.Column("entry_id", sa.Text, nullable=False),
        sa.Column("processed_at", TZ, nullable=False, server_default=NOW),
        schema=S,
    )
    op.create_index(
        f"ix_{S}_processed_events_processed_at", "processed_events", ["processed_at"], schema=S
    )
    op.create_table(
        "subject_sequences",
        sa.Column("scope", sa.Text, primary_key=True, server_default=""),
        sa.Column("subject", sa.Text, primary_key=True),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("updated_at", TZ, nullable=False, server_default=NOW),
        schema=S,
    )


def downgrade() -> None:
    for table in (
        "subject_sequences",
        "processed_events",
        "placement_retries",
        "idempotency_keys",
        "reservation_receipts",
        "products",
        "order_lines",
        "orders",
        "outbox",
        "events",
    ):
        op.drop_table(table, schema=S)
