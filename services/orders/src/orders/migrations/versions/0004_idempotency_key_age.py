"""Idempotency keys by age: the hourly prune (IDEMPOTENCY_KEY_TTL_S) deletes the oldest
keys through this index instead of scanning the table.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

S = "orders"


def upgrade() -> None:
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"], schema=S)


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created_at", "idempotency_keys", schema=S)
