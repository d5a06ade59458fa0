"""Fixtures shared by every test suite in the repository (libs, services, end to end)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis

from tests.support import infra


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    with infra.postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def database_url(postgres_server_url: str) -> Iterator[str]:
    """A database of this test run's own (SQLAlchemy URL, psycopg driver)."""
    with infra.fresh_database(postgres_server_url) as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with infra.redis_server() as url:
        yield url


@pytest.fixture
def stream_prefix() -> str:
    """Each test publishes and consumes under its own key prefix."""
    return f"test-{uuid.uuid4().hex[:10]}:"


@pytest.fixture
async def redis_client(redis_url: str, stream_prefix: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url)
    yield client
    keys = [key async for key in client.scan_iter(match=f"{stream_prefix}*", count=500)]
    if keys:
        await client.delete(*keys)
    await client.aclose()
