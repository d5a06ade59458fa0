"""The sync queue remembers the trace of the event that queued a product, so the
syncer's Chroma write joins that trace (docs/architecture.md, Observability).

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('sync_queue', sa.Column('traceparent', sa.Text(), nullable=True), schema='indexer')


def downgrade() -> None:
    op.drop_column('sync_queue', 'traceparent', schema='indexer')
