"""PostgreSQL unreachable: events stay pending, are never dead-lettered however long the
outage lasts, and are consumed exactly once when the database is back. The outage is a
TCP proxy between the consumer and the shared server (which must keep running)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from libs.messaging.tests.integration.support import (
    Bus,
    category_created,
    fast_settings,
    record_effect,
    text_of,
    wait_for,
)
from marcus_messaging import HandlerContext
from tests.support.proxy import TcpProxy

GROUP = "mailer"
SETTINGS = fast_settings(
    "m1",
    max_deliveries=2,
    reclaim_min_idle_ms=300,
    backoff_base_ms=1_000,  # a handler failure is retried 1 s later: during the outage
    database_retry_ms=50,
    database_retry_max_ms=200,
)


@pytest.fixture
async def proxy(database_url: str) -> AsyncIterator[TcpProxy]:
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.up()
    yield proxy
    await proxy.down()


@pytest.fixture
async def proxied_engine(database_url: str, proxy: TcpProxy) -> AsyncIterator[AsyncEngine]:
    url = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    engine = create_async_engine(url, pool_size=5)
    yield engine
    await engine.dispose()


async def delivery_counts(redis: aioredis.Redis, stream: str) -> dict[str, int]:
    entries: Any = await redis.xpending_range(stream, GROUP, "-", "+", 100)
    return {text_of(e["message_id"]): int(e["times_delivered"]) for e in entries}


def gauge(name: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"group": GROUP})


async def test_database_outage_keeps_events_pending_and_out_of_the_dlq(
    bus: Bus, proxied_engine: AsyncEngine, proxy: TcpProxy
) -> None:
    redis_client, stream = bus.redis, bus.stream
    consumer = bus.consumer(GROUP, SETTINGS, engine=proxied_engine)
    attempts: list[int] = []

    @consumer.handler("catalog.category.created")
    async def handle(ctx: HandlerContext) -> None:
        if ctx.event.model_dump()["name"] == "flaky":
            attempts.append(ctx.deliveries)
            if len(attempts) == 1:
                raise RuntimeError("fails once")
        await record_effect(ctx, bus.schema, consumer.consumer_name)

    first, flaky = category_created("first"), category_created("flaky")
    during = [category_created(f"during-{i}") for i in range(3)]
    unavailable_before = gauge("messaging_database_unavailable_total") or 0.0

    async def attempts_so_far() -> list[int]:
        return list(attempts)

    async def available() -> float | None:
        return gauge("messaging_database_available")

    async with consumer.running():
        await bus.publish(first)
        await bus.effects_until(1)
        [flaky_id] = await bus.publish(flaky)
        await wait_for(attempts_so_far, lambda seen: seen == [1])

        # Delivery 1 of 2 failed and counted. The database goes away; the retry, 1 s
        # later, is the reclaimer's claim that finds it gone.
        await proxy.down()
        await wait_for(available, lambda value: value == 0.0, what="the outage noticed")
        # New entries arriving now: the subscriber holds the batch it read (and reads no
        # more until the database is back), the rest wait in the stream.
        during_ids = await bus.publish(*during)
        await wait_for(lambda: bus.pending(GROUP), lambda n: n >= 2)
        await asyncio.sleep(2.5)  # longer than the whole retry sequence

        assert await redis_client.xlen(bus.names.dlq(GROUP)) == 0
        counts = await delivery_counts(redis_client, stream)
        assert flaky_id in counts and set(counts) <= {flaky_id, *during_ids}  # none acked
        assert counts[flaky_id] == 2  # the claim that found the database gone, then none
        assert all(counts.get(entry_id, 1) == 1 for entry_id in during_ids)  # none spent
        assert attempts == [1]
        assert len(await bus.effects()) == 1
        assert (gauge("messaging_database_unavailable_total") or 0.0) > unavailable_before

        await proxy.up()
        rows = await bus.effects_until(5, what="every event consumed after the outage")
        await bus.drained(GROUP)
        assert gauge("messaging_database_available") == 1.0

    assert sorted(row[0] for row in rows) == sorted(str(e.id) for e in (first, flaky, *during))
    assert attempts == [1, 2]  # the delivery lost to the outage was not counted
    assert await redis_client.xlen(bus.names.dlq(GROUP)) == 0


async def test_database_unreachable_from_the_start(
    bus: Bus, proxied_engine: AsyncEngine, proxy: TcpProxy
) -> None:
    redis_client, stream = bus.redis, bus.stream
    await proxy.down()
    consumer = bus.consumer(GROUP, SETTINGS, engine=proxied_engine)

    deliveries: list[int] = []

    @consumer.handler("catalog.category.created")
    async def handle(ctx: HandlerContext) -> None:
        deliveries.append(ctx.deliveries)
        await record_effect(ctx, bus.schema, consumer.consumer_name)

    events = [category_created(f"e{i}") for i in range(4)]
    await bus.publish(*events)
    async with consumer.running():
        await wait_for(lambda: bus.pending(GROUP), lambda n: n == 4)
        await asyncio.sleep(1.5)
        assert await redis_client.xlen(bus.names.dlq(GROUP)) == 0
        assert set((await delivery_counts(redis_client, stream)).values()) == {1}

        await proxy.up()
        await bus.effects_until(4)
        await bus.drained(GROUP)
    assert await redis_client.xlen(bus.names.dlq(GROUP)) == 0
    # The held batch, idle far beyond reclaim_min_idle_ms, was not claimed from under the
    # subscriber: it ran once, on its first delivery.
    assert deliveries == [1, 1, 1, 1]
    labels = {"group": GROUP, "stream": stream, "type": "catalog.category.created"}
    assert not REGISTRY.get_sample_value("messaging_events_duplicate_total", labels)
    assert not REGISTRY.get_sample_value(
        "messaging_entries_reclaimed_total", {"group": GROUP, "stream": stream}
    )
