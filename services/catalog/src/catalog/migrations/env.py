"""Alembic environment of the catalog: everything lives in the `catalog` schema."""

from catalog.settings import SCHEMA
from catalog.storage.tables import metadata
from marcus_eventstore.migrations import run_migrations

run_migrations(SCHEMA, metadata)
