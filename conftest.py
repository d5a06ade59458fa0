"""Fixtures shared by every test suite in the repository (libs, services, end to end).

Nothing here connects to anything on import: PostgreSQL and Redis are found (or started)
the first time a test asks for `database_url` / `redis_url`, so tests that ask for
neither run without them.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest

from tests.support import auth

if TYPE_CHECKING:
    import redis.asyncio as aioredis


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    from tests.support import infra

    with infra.postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def database_url(postgres_server_url: str) -> Iterator[str]:
    """A database of this test run's own (SQLAlchemy URL, psycopg driver)."""
    from tests.support import infra

    with infra.fresh_database(postgres_server_url) as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    from tests.support import infra

    with infra.redis_server() as url:
        yield url


@pytest.fixture
def stream_prefix() -> str:
    """Each test publishes and consumes under its own key prefix."""
    return f"test-{uuid.uuid4().hex[:10]}:"


@pytest.fixture
async def redis_client(redis_url: str, stream_prefix: str) -> AsyncIterator[aioredis.Redis]:
    import redis.asyncio as aioredis

    client = aioredis.from_url(redis_url)
    yield client
    keys = [key async for key in client.scan_iter(match=f"{stream_prefix}*", count=500)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def jwt_secret() -> str:
    """The JWT secret the services under test verify tokens with; a suite whose services
    run with another one overrides this fixture."""
    return auth.SECRET


@pytest.fixture
def admin_headers(jwt_secret: str) -> dict[str, str]:
    """An operator's bearer headers (role `admin`)."""
    return auth.admin_headers(secret=jwt_secret)


@pytest.fixture
def customer_headers(jwt_secret: str) -> dict[str, str]:
    """Customer `alice`'s bearer headers (no role)."""
    return auth.customer_headers(secret=jwt_secret)
