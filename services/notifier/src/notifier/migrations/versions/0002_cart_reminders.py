"""Deliveries of abandoned-cart reminders: about a cart, not an order.

`order_id` becomes nullable and `cart_id` is added; every delivery names one of them.
Existing rows are order e-mails and keep their order id.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

S = "notifier"


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("cart_id", sa.Uuid, nullable=True), schema=S)
    op.alter_column("deliveries", "order_id", nullable=True, schema=S)
    op.create_check_constraint(
        "ck_deliveries_about_something",
        "deliveries",
        "order_id IS NOT NULL OR cart_id IS NOT NULL",
        schema=S,
    )


def downgrade() -> None:
    """Reminder deliveries have no order: they go (their e-mails were sent, the events
    recording that stay in the event store)."""
    op.drop_constraint("ck_deliveries_about_something", "deliveries", schema=S)
    op.execute(f"DELETE FROM {S}.deliveries WHERE order_id IS NULL")
    op.alter_column("deliveries", "order_id", nullable=False, schema=S)
    op.drop_column("deliveries", "cart_id", schema=S)
