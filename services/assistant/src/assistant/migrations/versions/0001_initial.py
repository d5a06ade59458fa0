"""Assistant schema (empty: search needs no tables; chat adds its own).

Revision ID: 0001
Revises:
"""

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # run_migrations creates the schema and the version table inside it


def downgrade() -> None:
    pass
