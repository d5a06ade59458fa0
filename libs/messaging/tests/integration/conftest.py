"""Fixtures of the messaging tests: a database engine, a schema per test, and the `bus`
that puts them together with Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from libs.messaging.tests.integration.support import Bus, create_tables
from marcus_contracts import StreamNames


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url, pool_size=10)
    yield engine
    await engine.dispose()


@pytest.fixture
async def schema(engine: AsyncEngine) -> AsyncIterator[str]:
    """A fresh schema with the ledger tables and the `effects` table."""
    name = f"consumer_{uuid.uuid4().hex[:8]}"
    await create_tables(engine, name)
    yield name
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP SCHEMA {name} CASCADE"))


@pytest.fixture
def names(stream_prefix: str) -> StreamNames:
    return StreamNames(stream_prefix)


@pytest.fixture
def bus(
    engine: AsyncEngine,
    schema: str,
    redis_url: str,
    names: StreamNames,
    redis_client: aioredis.Redis,
) -> Bus:
    return Bus(engine, schema, redis_url, names, redis_client)
