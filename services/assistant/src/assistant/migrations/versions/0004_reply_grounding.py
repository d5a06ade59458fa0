"""What grounding did to a model's reply: `corrected` or `replaced`, and the findings
(docs/adr/0003-grounding-outcome-in-the-reply-event.md).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

S = "assistant"


def upgrade() -> None:
    op.create_table(
        "reply_grounding",
        sa.Column("message_id", sa.Uuid, primary_key=True),
        sa.Column("grounding", sa.String(16), nullable=False),
        sa.Column("findings", postgresql.JSONB, nullable=False, server_default="[]"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("reply_grounding", schema=S)
