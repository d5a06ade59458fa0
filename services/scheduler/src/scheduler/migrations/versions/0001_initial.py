"""Scheduler schema: event store, outbox, job runs, the leader lease, the consumer ledger.

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

S = "scheduler"


def upgrade() -> None:
    create_event_store_tables(op, S)
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
    create_ledger_tables(op, S)


def downgrade() -> None:
    drop_ledger_tables(op, S)
    for table in ("leases", "job_runs"):
        op.drop_table(table, schema=S)
    drop_event_store_tables(op, S)
