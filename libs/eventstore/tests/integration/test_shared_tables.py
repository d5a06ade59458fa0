"""Every service's migrations, run into a fresh database: the event store and consumer
ledger tables they create through `marcus_eventstore.migrations` are exactly the ones
spelled out in `tests.support.table_shape` (the tables the migrations created before the
DDL was shared), and downgrading to base removes every table again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import create_engine

from marcus_eventstore.migrations import alembic_config, upgrade
from tests.support import infra
from tests.support.table_shape import describe, shared_tables, tables_in

SERVICES = ("catalog", "orders", "assistant", "indexer", "scheduler", "notifier")


@pytest.fixture
def fresh_database(postgres_server_url: str) -> Iterator[str]:
    with infra.fresh_database(postgres_server_url) as url:
        yield url


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_create_the_shared_tables_exactly(service: str, fresh_database: str) -> None:
    upgrade(service, fresh_database)
    engine = create_engine(fresh_database)
    try:
        with engine.connect() as conn:
            for table, shape in shared_tables(service).items():
                assert describe(conn, service, table) == shape, f"{service}.{table}"
        command.downgrade(alembic_config(service, fresh_database), "base")
        with engine.connect() as conn:
            assert tables_in(conn, service) == {"alembic_version"}
        upgrade(service, fresh_database)
        with engine.connect() as conn:
            assert set(shared_tables(service)) <= tables_in(conn, service)
    finally:
        engine.dispose()
