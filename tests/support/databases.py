"""Empty a service's tables between tests, reading which tables it has from its
SQLAlchemy metadata (`<service>.storage.tables.metadata`) rather than from a list kept
by hand in every suite (lists that drift: a table added by a migration stays full, a
dropped one breaks the TRUNCATE).

A test run shares one database: each test starts from empty tables, outboxes included,
so no relay publishes an earlier test's events into this test's streams. Materialized
views of the same schemas are refreshed afterwards, so they are empty too. Tables the
metadata names but the database does not hold (a service not migrated here) are skipped.
SQLAlchemy and the service's package are imported when called, not on import.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

SCHEMA_TABLES = (
    "SELECT schemaname || '.' || tablename FROM pg_tables WHERE schemaname = ANY(:schemas)"
)
SCHEMA_VIEWS = (
    "SELECT schemaname || '.' || matviewname FROM pg_matviews WHERE schemaname = ANY(:schemas)"
)


def service_metadata(service: str) -> Any:
    """`<service>.storage.tables.metadata`, after importing every module of
    `<service>.storage`: a table may be declared beside its repository (the assistant's
    `actions`) on the same metadata, and joins it only once its module is imported."""
    storage = importlib.import_module(f"{service}.storage")
    for module in pkgutil.walk_packages(storage.__path__, prefix=f"{service}.storage."):
        importlib.import_module(module.name)
    return importlib.import_module(f"{service}.storage.tables").metadata


def service_tables(service: str) -> list[str]:
    """`schema.table` for every table of `service`'s metadata (event store and consumer
    ledger included: the service registers them on the same metadata)."""
    metadata = service_metadata(service)
    names = []
    for table in metadata.sorted_tables:
        schema = table.schema or metadata.schema
        if schema is None:
            raise ValueError(f"{service}: table {table.name} has no schema")
        names.append(f"{schema}.{table.name}")
    return names


def schemas_of(tables: Iterable[str]) -> list[str]:
    return sorted({name.split(".", 1)[0] for name in tables})


def truncate_statement(tables: Sequence[str]) -> str:
    """One TRUNCATE for every table (foreign keys between them need no order)."""
    return f"TRUNCATE {', '.join(tables)} CASCADE"


def sqlalchemy_url(database_url: str) -> str:
    """`database_url` with the psycopg driver SQLAlchemy needs (`postgresql://` works too)."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url).set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def _plan(services: Sequence[str], existing: Iterable[str]) -> list[str]:
    present = set(existing)
    return [name for service in services for name in service_tables(service) if name in present]


async def truncate_tables(database_url: str, *services: str) -> None:
    """Empty every table of `services` (and refresh their materialized views)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    wanted = [name for service in services for name in service_tables(service)]
    schemas = schemas_of(wanted)
    engine = create_async_engine(sqlalchemy_url(database_url))
    try:
        async with engine.begin() as conn:
            existing = (await conn.execute(text(SCHEMA_TABLES), {"schemas": schemas})).scalars()
            tables = _plan(services, existing)
            if tables:
                await conn.execute(text(truncate_statement(tables)))
            views = (await conn.execute(text(SCHEMA_VIEWS), {"schemas": schemas})).scalars()
            for view in list(views):
                await conn.execute(text(f"REFRESH MATERIALIZED VIEW {view}"))
    finally:
        await engine.dispose()


def truncate_tables_sync(database_url: str, *services: str) -> None:
    """`truncate_tables` for synchronous callers (benches, threads without a loop)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    wanted = [name for service in services for name in service_tables(service)]
    schemas = schemas_of(wanted)
    engine = create_engine(sqlalchemy_url(database_url), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            existing = conn.execute(text(SCHEMA_TABLES), {"schemas": schemas}).scalars()
            tables = _plan(services, existing)
            if tables:
                conn.execute(text(truncate_statement(tables)))
            for view in list(conn.execute(text(SCHEMA_VIEWS), {"schemas": schemas}).scalars()):
                conn.execute(text(f"REFRESH MATERIALIZED VIEW {view}"))
    finally:
        engine.dispose()


def migrated(database_url: str, *services: str) -> str:
    """`database_url`, with the schemas of `services` upgraded to their newest migration
    (what a service suite's session-scoped database fixture returns)."""
    from marcus_eventstore.migrations import upgrade

    for service in services:
        upgrade(service, database_url)
    return database_url


@asynccontextmanager
async def emptied_engine(database_url: str, *services: str) -> AsyncIterator[Any]:
    """An async engine on `database_url` once the tables of `services` are emptied (a
    test's `engine` fixture); disposed on leaving."""
    from sqlalchemy.ext.asyncio import create_async_engine

    await truncate_tables(database_url, *services)
    engine = create_async_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def query_rows(database_url: str, sql: str, **params: Any) -> list[Any]:
    """The rows of one query, on an engine of its own (disposed after): a test's look
    at a service's tables from outside the service."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(text(sql), params)).all())
    finally:
        await engine.dispose()
