"""Alembic environment of the indexer: everything lives in the `indexer` schema."""

from indexer.settings import SCHEMA
from indexer.storage.tables import metadata
from marcus_eventstore.migrations import run_migrations

run_migrations(SCHEMA, metadata)
