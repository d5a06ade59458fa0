"""The outbox relay under failure: Redis down, two relays, the active relay killed."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import httpx
import pytest
import redis.asyncio as aioredis

from catalog.main import create_app
from catalog.settings import CatalogSettings
from marcus_contracts import STREAM_FIELD, Envelope, StreamNames
from marcus_eventstore import libpq_dsn
from marcus_web.app import make_relay as make_service_relay
from services.catalog.tests.support import product_body
from tests.support.servers import RedisProcess, serve_app, wait_for


def make_relay(settings, redis):
    return make_service_relay(settings, "catalog", redis)


pytestmark = pytest.mark.fault


def assert_once_and_in_order(envelopes: list[Envelope], expected: int) -> None:
    assert len(envelopes) == expected
    assert len({e.id for e in envelopes}) == expected, "an event was published twice"
    last: dict[str, int] = defaultdict(int)
    for envelope in envelopes:
        assert envelope.sequence == last[envelope.subject] + 1, "per-subject order broken"
        last[envelope.subject] = envelope.sequence


async def read_stream(client: aioredis.Redis, stream: str) -> list[Envelope]:
    return [Envelope.from_json(f[STREAM_FIELD.encode()]) for _, f in await client.xrange(stream)]


async def test_writes_succeed_while_redis_is_down_and_publish_when_it_returns(
    engine, settings: CatalogSettings, admin_headers
) -> None:
    redis_server = RedisProcess()
    redis_server.start()
    settings = settings.model_copy(update={"redis_url": redis_server.url})
    stream = StreamNames(settings.stream_prefix).events("catalog")
    observer = aioredis.from_url(redis_server.url)
    try:
        async with (
            serve_app(create_app(settings)) as url,
            httpx.AsyncClient(base_url=url) as client,
        ):
            category = await client.post(
                "/api/v1/categories", json={"slug": "bikes", "name": "Bikes"}, headers=admin_headers
            )
            await wait_for(lambda: _count(observer, stream, 1), what="first event")

            redis_server.stop()
            for i in range(5):
                response = await client.post(
                    "/api/v1/products",
                    json=product_body(category.json()["id"], sku=f"DOWN-{i}"),
                    headers=admin_headers,
                )
                assert response.status_code == 201, response.text
            assert (await client.get("/readyz")).status_code == 503

            redis_server.start()  # comes back empty: it keeps nothing on disk
            await wait_for(lambda: _count(observer, stream, 5), within=20, what="all 5 events")
            envelopes = await read_stream(observer, stream)
            assert [e.type for e in envelopes] == ["catalog.product.created"] * 5
            assert len({e.id for e in envelopes}) == 5
    finally:
        await observer.aclose()
        redis_server.stop()


async def _count(client: aioredis.Redis, stream: str, n: int) -> bool:
    try:
        return int(await client.xlen(stream)) >= n
    except aioredis.ConnectionError:
        return False


async def test_two_relays_publish_each_event_once_in_order(
    engine, settings: CatalogSettings, admin_headers, redis_client
) -> None:
    settings = settings.model_copy(update={"relay_enabled": False, "relay_batch_size": 7})
    stream = StreamNames(settings.stream_prefix).events("catalog")
    relays = [make_relay(settings, aioredis.from_url(settings.redis_url)) for _ in range(2)]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(r.run(stop)) for r in relays]
    try:
        async with (
            serve_app(create_app(settings)) as url,
            httpx.AsyncClient(base_url=url) as client,
        ):
            category = (
                await client.post(
                    "/api/v1/categories", json={"slug": "bikes", "name": "B"}, headers=admin_headers
                )
            ).json()

            async def writer(i: int) -> None:
                created = await client.post(
                    "/api/v1/products",
                    json=product_body(category["id"], sku=f"P-{i}"),
                    headers=admin_headers,
                )
                product_url = f"/api/v1/products/{created.json()['id']}"
                for n in range(3):
                    r = await client.patch(
                        product_url, json={"name": f"p{n}"}, headers=admin_headers
                    )
                    assert r.status_code == 200

            await asyncio.gather(*(writer(i) for i in range(15)))
            expected = 1 + 15 * 4
            await wait_for(
                lambda: _count(redis_client, stream, expected), within=20, what="all events"
            )
            assert sum(r.is_leader for r in relays) == 1
            assert_once_and_in_order(await read_stream(redis_client, stream), expected)
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def test_standby_relay_takes_over_when_the_active_one_is_killed(
    settings: CatalogSettings, redis_client, admin_headers, catalog_processes
) -> None:
    """The active relay runs in a catalog process that is SIGKILLed mid-stream."""
    process = catalog_processes()
    stream = StreamNames(settings.stream_prefix).events("catalog")
    standby = make_relay(settings, aioredis.from_url(settings.redis_url))
    stop = asyncio.Event()
    standby_task = None
    try:
        await process.ready(within=30)
        async with httpx.AsyncClient(base_url=process.url) as client:
            category = await client.post(
                "/api/v1/categories", json={"slug": "bikes", "name": "B"}, headers=admin_headers
            )
            await wait_for(lambda: _count(redis_client, stream, 1), what="published by the process")
            standby_task = asyncio.create_task(standby.run(stop))
            await asyncio.sleep(0.3)
            assert not standby.is_leader

            # Writes keep coming while the active relay dies.
            for i in range(10):
                r = await client.post(
                    "/api/v1/products",
                    json=product_body(category.json()["id"], sku=f"K-{i}", price="2.00"),
                    headers=admin_headers,
                )
                assert r.status_code == 201
            process.kill()

        await wait_for(lambda: standby.is_leader, within=15, what="standby takes the lock")
        await wait_for(lambda: _count(redis_client, stream, 11), within=15, what="all events")
        envelopes = await read_stream(redis_client, stream)
        # At-least-once: a batch XADDed just before the kill may repeat; nothing is lost.
        assert {e.subject for e in envelopes} >= {category.json()["id"]}
        unique = list({e.id: e for e in envelopes}.values())
        assert_once_and_in_order(unique, 11)
    finally:
        stop.set()
        if standby_task is not None:
            await standby_task


def test_libpq_dsn_drops_the_driver() -> None:
    assert libpq_dsn("postgresql+psycopg://u:p@h:5/db") == "postgresql://u:p@h:5/db"
