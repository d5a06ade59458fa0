"""Alembic environment of the notifier: everything lives in the `notifier` schema."""

from marcus_eventstore.migrations import run_migrations
from notifier.settings import SCHEMA
from notifier.storage.tables import metadata

run_migrations(SCHEMA, metadata)
