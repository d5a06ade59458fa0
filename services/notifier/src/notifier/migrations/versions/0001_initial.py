"""Notifier schema: event store, outbox, deliveries, consumer ledger.

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

S = "notifier"
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
    op.create_index("ix_notifier_events_type", "events", ["type"], schema=S)
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
    for table in ("subject_sequences", "processed_events", "deliveries", "outbox", "events"):
        op.drop_table(table, schema=S)
