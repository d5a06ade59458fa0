"""Actions the assistant proposes and performs only after the customer's yes (a checkout):
the current state of each, projected from `assistant.action.*` events.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

S = "assistant"
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "actions",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("session_id", sa.Uuid, nullable=False),
        sa.Column("customer", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("lines", postgresql.JSONB, nullable=False),
        sa.Column("total", sa.Numeric(12, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("address", postgresql.JSONB, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("order_id", sa.Uuid, nullable=True),
        sa.Column("failure_status", sa.Integer, nullable=True),
        sa.Column("failure_detail", sa.Text, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        schema=S,
    )
    op.create_index("ix_actions_session", "actions", ["session_id", "created_at"], schema=S)


def downgrade() -> None:
    op.drop_table("actions", schema=S)
