"""A second safeguard for stock: CHECK (stock >= 0) on products and options (issue 19,
finding 13). The saga's row locks already keep stock from going negative; this makes the
database refuse it too, whatever code path writes the row. A database that somehow holds
a negative stock refuses this migration: fix the rows first (docs/runbook.md).

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

S = "catalog"
CHECKS = {
    "products": "ck_products_stock_not_negative",
    "options": "ck_options_stock_not_negative",
}


def upgrade() -> None:
    for table, name in CHECKS.items():
        op.create_check_constraint(name, table, "stock >= 0", schema=S)


def downgrade() -> None:
    for table, name in CHECKS.items():
        op.drop_constraint(name, table, schema=S, type_="check")
