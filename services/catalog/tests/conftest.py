"""Catalog test fixtures: a migrated schema, a running catalog on a real socket, tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from catalog.main import create_app
from catalog.settings import CatalogSettings
from marcus_eventstore.migrations import upgrade
from marcus_web.auth import mint_token
from tests.support.servers import serve_app

SECRET = "catalog-tests-secret-0123456789abcdef"


@pytest.fixture(scope="session")
def catalog_database(database_url: str) -> str:
    upgrade("catalog", database_url)
    return database_url


@pytest.fixture
async def engine(catalog_database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(catalog_database)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "TRUNCATE catalog.outbox, catalog.events, catalog.products, catalog.categories,"
                " catalog.reservations, catalog.processed_events, catalog.subject_sequences,"
                " catalog.parts, catalog.options, catalog.incompatibilities, catalog.price_rules,"
                " catalog.preset_options, catalog.option_reservations"
            )
        )
    yield engine
    await engine.dispose()


@pytest.fixture
def settings(catalog_database: str, redis_url: str, stream_prefix: str) -> CatalogSettings:
    return CatalogSettings(
        database_url=catalog_database,
        redis_url=redis_url,
        stream_prefix=stream_prefix,
        jwt_secret=SECRET,
        relay_poll_interval=0.2,
    )


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token('ops', ['admin'], secret=SECRET)}"}


@pytest.fixture
def customer_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token('alice', [], secret=SECRET)}"}


@pytest.fixture
async def client(
    engine: AsyncEngine, settings: CatalogSettings
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to a catalog (API + relay) served on a real socket."""
    async with serve_app(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as client:
        yield client


class CatalogApi:
    """Shortcuts for the writes most tests need before they can test something."""

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers

    async def category(self, slug: str = "bikes") -> dict:
        response = await self.client.post(
            "/api/v1/categories", json={"slug": slug, "name": slug.title()}, headers=self.headers
        )
        assert response.status_code == 201, response.text
        return response.json()

    async def product(self, category_id: str, **overrides: object) -> dict:
        body = {
            "sku": "SKU-1",
            "name": "Road bike",
            "description": "A light aluminium road bike.",
            "price": "999.90",
            "currency": "EUR",
            "category_id": category_id,
            "attributes": {"colour": "red", "weight_kg": 8.4},
            "stock": 5,
        } | overrides
        response = await self.client.post("/api/v1/products", json=body, headers=self.headers)
        assert response.status_code == 201, response.text
        return response.json()


@pytest.fixture
def api(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> CatalogApi:
    return CatalogApi(client, admin_headers)


class StreamReader:
    """Reads the catalog's stream as consumers will see it."""

    def __init__(self, redis_client, stream: str) -> None:
        self.redis = redis_client
        self.stream = stream

    async def envelopes(self) -> list:
        from marcus_contracts import STREAM_FIELD, Envelope

        entries = await self.redis.xrange(self.stream)
        return [Envelope.from_json(fields[STREAM_FIELD.encode()]) for _, fields in entries]

    async def has_at_least(self, count: int) -> bool:
        return int(await self.redis.xlen(self.stream)) >= count


@pytest.fixture
def catalog_stream(redis_client, stream_prefix: str) -> StreamReader:
    from marcus_contracts import StreamNames

    return StreamReader(redis_client, StreamNames(stream_prefix).events("catalog"))


@pytest.fixture
def orders_stream(redis_client, stream_prefix: str):
    """Publishes order events on `events.orders` as the orders service's relay does."""
    from marcus_contracts import STREAM_FIELD, Envelope, StreamNames

    stream = StreamNames(stream_prefix).events("orders")

    async def publish(envelope: Envelope) -> None:
        await redis_client.xadd(stream, {STREAM_FIELD: envelope.to_json()})

    return publish
