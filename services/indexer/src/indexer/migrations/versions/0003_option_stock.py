"""The fold keeps the stock of every option of a configurable product (with the
product's stock, under the same high-water mark), so option stock changes reach the
index.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "documents",
        sa.Column("option_stock", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        schema="indexer",
    )


def downgrade() -> None:
    op.drop_column("documents", "option_stock", schema="indexer")
