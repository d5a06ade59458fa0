"""The shared migration helpers, run through a real Alembic operations context into a
schema of the test's own: they create exactly the event store and ledger tables every
service had before the DDL moved here, and the drop helpers leave the schema empty."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import Engine, create_engine, text

from marcus_eventstore.migrations import (
    create_event_store_tables,
    create_ledger_tables,
    drop_event_store_tables,
    drop_ledger_tables,
)
from tests.support.table_shape import describe, shared_tables, tables_in


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def schema(engine: Engine) -> Iterator[str]:
    name = f"mig_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    yield name
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))


def test_helpers_create_the_shared_tables_exactly(engine: Engine, schema: str) -> None:
    with engine.begin() as conn:
        op = Operations(MigrationContext.configure(conn))
        create_event_store_tables(op, schema)
        create_ledger_tables(op, schema)
    expected = shared_tables(schema)
    with engine.connect() as conn:
        assert tables_in(conn, schema) == set(expected)
        for table, shape in expected.items():
            assert describe(conn, schema, table) == shape, table


def test_drop_helpers_undo_them(engine: Engine, schema: str) -> None:
    with engine.begin() as conn:
        op = Operations(MigrationContext.configure(conn))
        create_event_store_tables(op, schema)
        create_ledger_tables(op, schema)
        drop_ledger_tables(op, schema)
        drop_event_store_tables(op, schema)
    with engine.connect() as conn:
        assert tables_in(conn, schema) == set()
        sequences = conn.execute(
            text("SELECT count(*) FROM pg_sequences WHERE schemaname = :s"), {"s": schema}
        )
        assert sequences.scalar_one() == 0
