"""Fixtures shared by every test suite in the repository (libs, services, end to end),
and the test tiers: each test is marked `unit`, `integration` or `e2e` from where its
file lives (`tests/support/tiers.py`).

Nothing here connects to anything on import: PostgreSQL and Redis are found (or started)
the first time a test asks for `database_url` / `redis_url`, so tests that ask for
neither run without them. A `unit` test that asks for them fails at once, saying so
(`make test-unit` runs with no database configured, MARCUS_TEST_TIER=unit).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support import auth, tiers

if TYPE_CHECKING:
    import redis.asyncio as aioredis


SERVER_FIXTURES = frozenset({"postgres_server_url", "database_url", "redis_url", "redis_client"})
"""Fixtures that reach a PostgreSQL or Redis server: never in a unit test."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with its tier (a marker set by hand wins)."""
    root = Path(config.rootpath)
    for item in items:
        if any(item.get_closest_marker(tier) for tier in tiers.TIERS):
            continue
        try:
            relative = item.path.resolve().relative_to(root)
        except ValueError:
            relative = item.path
        item.add_marker(getattr(pytest.mark, tiers.tier_of(relative.as_posix())))


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A unit test that asks for a database or Redis fails before it starts, naming it."""
    if item.get_closest_marker("unit") is None:
        return
    servers = sorted(SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())))
    if servers:
        pytest.fail(
            f"{item.nodeid} is a unit test but asks for {', '.join(servers)}: unit tests use"
            " no database or Redis (fakes instead); move it to tests/integration/",
            pytrace=False,
        )


def _refuse_in_unit_runs(fixture: str) -> None:
    if os.environ.get("MARCUS_TEST_TIER") == "unit":
        pytest.fail(
            f"`{fixture}` asked for in a unit-only run (make test-unit has no database or"
            " Redis): the test asking for it belongs in an integration/ folder",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    _refuse_in_unit_runs("postgres_server_url")
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
    _refuse_in_unit_runs("redis_url")
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
