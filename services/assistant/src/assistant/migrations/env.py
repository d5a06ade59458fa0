"""Alembic environment of the assistant: everything lives in the `assistant` schema."""

from assistant.settings import SCHEMA
from assistant.storage.tables import metadata
from marcus_eventstore.migrations import run_migrations

run_migrations(SCHEMA, metadata)
