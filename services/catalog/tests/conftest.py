"""Catalog test fixtures: a migrated schema emptied per test, a catalog app on a real
socket, its streams, and catalog processes for the end-to-end tier. The DB and Redis
fixtures are only built when a test asks for them (unit tests never do)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from services.catalog.tests.support import CatalogApi, StreamReader
from tests.support.databases import emptied_engine, migrated

if TYPE_CHECKING:
    import httpx
    from sqlalchemy.ext.asyncio import AsyncEngine

    from catalog.settings import CatalogSettings
    from marcus_contracts import Envelope
    from tests.support.processes import ServiceProcess


@pytest.fixture(scope="session")
def catalog_database(database_url: str) -> str:
    return migrated(database_url, "catalog")


@pytest.fixture
async def engine(catalog_database: str) -> AsyncIterator[AsyncEngine]:
    async with emptied_engine(catalog_database, "catalog") as engine:
        yield engine


@pytest.fixture
def settings(
    catalog_database: str, redis_url: str, stream_prefix: str, jwt_secret: str
) -> CatalogSettings:
    from catalog.settings import CatalogSettings

    return CatalogSettings(
        database_url=catalog_database,
        redis_url=redis_url,
        stream_prefix=stream_prefix,
        jwt_secret=jwt_secret,
        relay_poll_interval=0.2,
    )


@pytest.fixture
async def client(
    engine: AsyncEngine, settings: CatalogSettings
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to a catalog (API + relay + consumer) on a real socket."""
    from catalog.main import create_app
    from tests.support.servers import served_client

    async with served_client(create_app(settings)) as client:
        yield client


@pytest.fixture
def api(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> CatalogApi:
    return CatalogApi(client, admin_headers)


@pytest.fixture
def catalog_stream(redis_client: Any, stream_prefix: str) -> StreamReader:
    from marcus_contracts import StreamNames

    return StreamReader(redis_client, StreamNames(stream_prefix).events("catalog"))


@pytest.fixture
def orders_stream(redis_client: Any, stream_prefix: str) -> Callable[[Envelope], Any]:
    """Publishes order events on `events.orders` as the orders service's relay does."""
    from marcus_contracts import STREAM_FIELD, StreamNames

    stream = StreamNames(stream_prefix).events("orders")

    async def publish(envelope: Envelope) -> None:
        await redis_client.xadd(stream, {STREAM_FIELD: envelope.to_json()})

    return publish


@pytest.fixture
def catalog_processes(
    engine: AsyncEngine, settings: CatalogSettings, tmp_path: Path
) -> Iterator[Callable[..., ServiceProcess]]:
    """`start(**env)`: a `python -m catalog serve` process on this test's database, Redis
    and stream prefix (relay polling fast), started; all are stopped after the test."""
    from tests.support.processes import ServiceProcess, service_env, stop_all

    started: list[ServiceProcess] = []

    def start(**extra: str) -> ServiceProcess:
        env = service_env(
            settings.database_url,
            settings.redis_url,
            settings.stream_prefix,
            secret=settings.jwt_secret,
            extra={"RELAY_POLL_INTERVAL": "0.2", **extra},
        )
        process = ServiceProcess("catalog", env, tmp_path / f"catalog-{len(started)}.log")
        started.append(process.start())
        return process

    yield start
    stop_all(started)
