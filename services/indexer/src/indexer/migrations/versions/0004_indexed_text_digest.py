"""Each indexed document remembers a digest of the text it was embedded from, so a
change that leaves the text as it was (a stock reservation of a simple product) updates
the document's metadata without embedding it again.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("indexed", sa.Column("text_digest", sa.LargeBinary(), nullable=True), schema="indexer")


def downgrade() -> None:
    op.drop_column("indexed", "text_digest", schema="indexer")
