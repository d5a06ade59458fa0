"""Scheduler schema: event store, outbox, job runs, the leader lease, the consumer ledger.

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

S = "scheduler"


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("position", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("id", sa.Uuid, nullable=False, unique=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("dataversion", sa.Integer, nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("envelope", postgresql.JSON, nullable=False),
        sa.UniqueConstraint("subject", "sequence", name="uq_events_subject_sequence"),
        schema=S,
    )
    op.create_index("ix_scheduler_events_type", "events", ["type"], schema=S)
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
        "job_runs",
        sa.Column("id", sa.Uuid, primary_key=True, comment="run id = id of the fire's event"),
        sa.Column("job", sa.String(80), nullable=False),
        sa.Column("fire_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.Text, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome_at", sa.DateTime(timezone=True)),
        sa.Column("outcome_detail", sa.Text),
        sa.Column("report_id", sa.Uuid),
        sa.Column("version", sa.Integer, nullable=False),
        sa.UniqueConstraint("job", "fire_time", name="uq_job_runs_job_fire_time"),
        schema=S,
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(80), primary_key=True),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column(
            "token", sa.BigInteger, nullable=False, comment="fencing token, +1 per new tenure"
        ),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        schema=S,
    )
    op.create_table(
        "processed_events",
        sa.Column("consumer_group", sa.Text, primary_key=True),
        sa.Column("event_id", sa.Uuid, primary_key=True),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("stream", sa.Text, nullable=False),
        sa.Column("entry_id", sa.Text, nullable=False),
        sa.Column(
            "processed_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
        ),
        schema=S,
    )
    op.create_index(
        "ix_scheduler_processed_events_processed_at",
        "processed_events",
        ["processed_at"],
        schema=S,
    )
    op.create_table(
        "subject_sequences",
        sa.Column("scope", sa.Text, primary_key=True, server_default=""),
        sa.Column("subject", sa.Text, primary_key=True),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema=S,
    )


def downgrade() -> None:
    for table in (
        "subject_sequences",
        "processed_events",
        "leases",
        "job_runs",
        "outbox",
        "events",
    ):
        op.drop_table(table, schema=S)
