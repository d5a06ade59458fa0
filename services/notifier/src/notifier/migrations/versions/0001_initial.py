"""Notifier schema: event store, outbox, deliveries, consumer ledger.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

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

S = "notifier"
NOW = sa.func.now()
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    create_event_store_tables(op, S)
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("event_id", sa.Uuid, nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("order_id", sa.Uuid, nullable=False),
        sa.Column("message_id", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("smtp_response", sa.Text, nullable=True),
        sa.Column("outcome_recorded", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("version", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", TZ, nullable=False, server_default=NOW),
        sa.Column("updated_at", TZ, nullable=False, server_default=NOW),
        sa.Column("sent_at", TZ, nullable=True),
        sa.UniqueConstraint("event_id", "recipient", name="uq_deliveries_event_recipient"),
        schema=S,
    )
    create_ledger_tables(op, S)


def downgrade() -> None:
    drop_ledger_tables(op, S)
    op.drop_table("deliveries", schema=S)
    drop_event_store_tables(op, S)
