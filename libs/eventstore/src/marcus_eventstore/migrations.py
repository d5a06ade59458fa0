"""Alembic for services whose tables all live in one schema of their own.

Each service keeps `migrations/` inside its package; its env.py is one call to
`run_migrations(schema, metadata)`, and `upgrade(package, url)` runs it from code, so
`python -m <service> migrate` works from any directory.

Every service's first migrations create the same event store (events, outbox) and
consumer ledger (processed_events, subject_sequences); `create_event_store_tables` and
`create_ledger_tables` are that DDL, once. They are migration history: what they create
must never change (a later change to these tables is a new migration of its own), so
they spell the tables out rather than following `event_store_tables` / `ledger_tables`,
which describe the tables as they are now.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, create_engine, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from marcus_eventstore.tables import SUBJECT_SEQUENCE_CONSTRAINT


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
    engine = create_engine(url, hide_parameters=True)
    try:
        with engine.begin() as connection:
            # Only when missing: CREATE SCHEMA IF NOT EXISTS needs CREATE on the database
            # even when the schema exists, which a service's own role (the schema's owner,
            # marcus_web.ownership) does not have.
            exists = connection.execute(
                text("SELECT 1 FROM pg_namespace WHERE nspname = :schema"), {"schema": schema}
            )
            if exists.first() is None:
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


def create_event_store_tables(op: Any, schema: str) -> None:
    """`events` (append-only, unique `(subject, sequence)`, indexed by type) and `outbox`
    (positions the relay has yet to publish) in `schema`; `op` is `alembic.op`."""
    op.create_table(
        "events",
        sa.Column("position", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("id", sa.Uuid, nullable=False, unique=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("dataversion", sa.Integer, nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("envelope", postgresql.JSON, nullable=False),
        sa.UniqueConstraint("subject", "sequence", name=SUBJECT_SEQUENCE_CONSTRAINT),
        schema=schema,
    )
    op.create_index(f"ix_{schema}_events_type", "events", ["type"], schema=schema)
    op.create_table(
        "outbox",
        sa.Column(
            "position",
            sa.BigInteger,
            sa.ForeignKey(f"{schema}.events.position", ondelete="CASCADE"),
            primary_key=True,
        ),
        schema=schema,
    )


def drop_event_store_tables(op: Any, schema: str) -> None:
    """Undo `create_event_store_tables` (the outbox first: it references the events)."""
    for table in ("outbox", "events"):
        op.drop_table(table, schema=schema)


def create_ledger_tables(op: Any, schema: str) -> None:
    """`processed_events` (the idempotency ledger, pruned by `processed_at`) and
    `subject_sequences` (the per-subject high-water marks) in `schema`."""
    op.create_table(
        "processed_events",
        sa.Column("consumer_group", sa.Text, primary_key=True),
        sa.Column("event_id", sa.Uuid, primary_key=True),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("stream", sa.Text, nullable=False),
        sa.Column("entry_id", sa.Text, nullable=False),
        sa.Column(
            "processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema=schema,
    )
    op.create_index(
        f"ix_{schema}_processed_events_processed_at",
        "processed_events",
        ["processed_at"],
        schema=schema,
    )
    op.create_table(
        "subject_sequences",
        sa.Column("scope", sa.Text, primary_key=True, server_default=""),
        sa.Column("subject", sa.Text, primary_key=True),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema=schema,
    )


def drop_ledger_tables(op: Any, schema: str) -> None:
    """Undo `create_ledger_tables`."""
    for table in ("subject_sequences", "processed_events"):
        op.drop_table(table, schema=schema)
