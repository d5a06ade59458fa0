"""Alembic for services whose tables all live in one schema of their own.

Each service keeps `migrations/` inside its package; its env.py is one call to
`run_migrations(schema, metadata)`, and `upgrade(package, url)` runs it from code, so
`python -m <service> migrate` works from any directory.
"""

from __future__ import annotations

from importlib.resources import files

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, create_engine, text
from sqlalchemy.engine import make_url


def libpq_dsn(database_url: str) -> str:
    """The SQLAlchemy URL without its driver suffix, as psycopg's own connect wants it."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def alembic_config(package: str, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files(package) / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(package: str, database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(package, database_url), revision)


def run_migrations(schema: str, metadata: MetaData) -> None:
    """Body of a service's env.py: online migrations inside `schema` (created if missing),
    with Alembic's version table in that schema too, so services never share one."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            context.configure(
                connection=connection,
                target_metadata=metadata,
                version_table_schema=schema,
                include_schemas=True,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()
