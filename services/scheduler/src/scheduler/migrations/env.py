"""Alembic environment of the scheduler: everything lives in the `scheduler` schema."""

from marcus_eventstore.migrations import run_migrations
from scheduler.settings import SCHEMA
from scheduler.storage.tables import metadata

run_migrations(SCHEMA, metadata)
