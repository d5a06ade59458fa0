"""Alembic environment of the catalog: everything lives in the `catalog` schema."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text

from catalog.settings import SCHEMA
from catalog.storage.tables import metadata

url = context.config.get_main_option("sqlalchemy.url")
assert url is not None
engine = create_engine(url)
with engine.begin() as connection:
    connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"'))
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=SCHEMA,
        include_schemas=True,
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
