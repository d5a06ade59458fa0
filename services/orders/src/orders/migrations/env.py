"""Alembic environment of the orders service: everything lives in the `orders` schema."""

from marcus_eventstore.migrations import run_migrations
from orders.settings import SCHEMA
from orders.storage.tables import metadata

run_migrations(SCHEMA, metadata)
