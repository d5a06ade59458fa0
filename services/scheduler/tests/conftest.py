"""Scheduler test fixtures: a migrated schema, settings, a served app, its stream (tokens:
the root conftest's `admin_headers` / `customer_headers`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from scheduler.main import create_app
from scheduler.settings import SchedulerSettings
from services.scheduler.tests.support import SchedulerStream
from tests.support.databases import emptied_engine, migrated
from tests.support.servers import served_client


@pytest.fixture(scope="session")
def scheduler_database(database_url: str) -> str:
    return migrated(database_url, "scheduler")


@pytest.fixture
async def engine(scheduler_database: str) -> AsyncIterator[AsyncEngine]:
    async with emptied_engine(scheduler_database, "scheduler") as engine:
        yield engine


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@pytest.fixture
def settings(
    scheduler_database: str, redis_url: str, stream_prefix: str, jwt_secret: str
) -> SchedulerSettings:
    """Nothing fires on its own (API tests); tests that schedule switch it on."""
    return SchedulerSettings(
        database_url=scheduler_database,
        redis_url=redis_url,
        stream_prefix=stream_prefix,
        jwt_secret=jwt_secret,
        relay_poll_interval=0.2,
        schedule_timezone="Europe/Berlin",
        scheduler_enabled=False,
        consumer_enabled=False,
        lease_ttl_seconds=3,
        lease_poll_seconds=0.2,
    )


@pytest.fixture
async def client(
    engine: AsyncEngine, settings: SchedulerSettings
) -> AsyncIterator[httpx.AsyncClient]:
    async with served_client(create_app(settings)) as client:
        yield client


@pytest.fixture
def scheduler_stream(redis_client: Any, stream_prefix: str) -> SchedulerStream:
    return SchedulerStream(redis_client, stream_prefix)
