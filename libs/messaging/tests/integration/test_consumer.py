"""Consuming with a real Redis and PostgreSQL: backlog, duplicates, stale events, types
without a handler, metrics."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from libs.messaging.tests.integration.support import (
    category_created,
    category_updated,
    effects,
    pending_count,
    publish,
    record_effect,
    text_of,
    wait_for,
)
from marcus_contracts import StreamNames, registry
from marcus_contracts.events.catalog import StockAdjusted
from marcus_messaging import Consumer, ConsumerSettings, HandlerContext, ensure_group
from tests.support.servers import free_port

GROUP = "indexer"
FAST = ConsumerSettings(
    consumer_name="c1",
    block_ms=100,
    reclaim_interval_ms=50,
    reclaim_min_idle_ms=500,
    backoff_base_ms=50,
    metrics_interval_ms=100,
    shutdown_timeout_s=2,
)


def make_consumer(
    engine: AsyncEngine, schema: str, redis_url: str, names: StreamNames, **settings: Any
) -> Consumer:
    consumer = Consumer(
        group=GROUP,
        streams=["catalog"],
        engine=engine,
        schema=schema,
        redis_url=redis_url,
        names=names,
        settings=replace(FAST, **settings),
    )

    @consumer.handler("catalog.category.created")
    async def created(ctx: HandlerContext) -> None:
        await record_effect(ctx, schema, consumer.consumer_name)

    @consumer.handler("catalog.category.updated")
    async def updated(ctx: HandlerContext) -> None:
        if await ctx.advance():
            await record_effect(ctx, schema, consumer.consumer_name)

    return consumer


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_backlog_published_before_start_is_consumed_once(
    engine: AsyncEngine,
    schema: str,
    redis_url: str,
    names: StreamNames,
    redis_client: aioredis.Redis,
) -> None:
    stream = names.events("catalog")
    envelopes = [category_created(f"c{i}") for i in range(5)]
    for envelope in envelopes:
        await publish(redis_client, stream, envelope)

    async with make_consumer(engine, schema, redis_url, names).running():
        rows = await wait_for(
            lambda: effects(engine, schema), lambda rows: len(rows) >= 5, what="5 effects"
        )
        await wait_for(
            lambda: pending_count(redis_client, stream, GROUP), lambda n: n == 0, what="acks"
        )

    assert sorted(row[0] for row in rows) == sorted(str(e.id) for e in envelopes)
    assert len(await effects(engine, schema)) == 5
    labels = {"group": GROUP, "stream": stream, "type": "catalog.category.created"}
    assert sample("messaging_events_consumed_total", **labels) == 5


async def test_existing_group_created_by_someone_else_at_zero_is_kept(
    engine: AsyncEngine,
    schema: str,
    redis_url: str,
    names: StreamNames,
    redis_client: aioredis.Redis,
) -> None:
    stream = names.events("catalog")
    await ensure_group(redis_client, stream, GROUP)
    assert not await ensure_group(redis_client, stream, GROUP)  # BUSYGROUP is fine
    await publish(redis_client, stream, category_created())

    async with make_consumer(engine, schema, redis_url, names).running():
        await wait_for(lambda: effects(engine, schema), lambda rows: len(rows) == 1)


async def test_duplicate_delivery_has_one_effect(
    engine: AsyncEngine,
    schema: str,
    redis_url: str,
    names: StreamNames,
    redis_client: aioredis.Redis,
) -> None:
    stream = names.events("catalog")
    twice = category_created("twice")
    await publish(redis_client, stream, twice)
    await publish(redis_client, stream, twice)
    marker = category_created("after")

    async with make_consumer(engine, schema, redis_url, names).running():
        await publish(redis_client, stream, twice)  # a third copy, while running
        await publish(redis_client, stream, marker)
        await wait_for(
            lambda: effects(engine, schema),
            lambda rows: str(marker.id) in {row[0] for row in rows},
            what="the marker effect",
        )
        await wait_for(lambda: pending_count(redis_client, stream, GROUP), lambda n: n == 0)

    ids = [row[0] for row in await effects(engine, schema)]
    assert ids.count(str(twice.id)) == 1
    assert len(ids) == 2
    labels = {"group": GROUP, "stream": stream, "type": "catalog.category.created"}
    assert sample("messaging_events_duplicate_total", **labels) == 2


async def test_stale_sequence_is_skipped(
    engine: AsyncEngine,
    schema: str,
    redis_url: str,
    names: StreamNames,
    redis_client: aioredis.Redis,
) -> None:
    stream = names.events("catalog")
    created = category_created("v1")
    subject = created.subject
    newer = category_updated(subject, 3, "v3")
    older = category_updated(subject, 2, "v2")  # arrives after v3: stale
    newest = category_updated(subject, 4, "v4")
    for envelope in (created, newer, older, newest):
        await publish(redis_client, stream, envelope)

    consumer = make_consumer(engine, schema, redis_url, names)
    async with consumer.running():
        await wait_for(lambda: pending_count(redis_client, stream, GROUP), lambda n: n == 0)
        await wait_for(
            lambda: effects(engine, schema), lambda rows: len(rows) == 3, what="3 effects"
        )

    assert [row[1] for row in await effects(engine, schema)] == [1, 3, 4]
    async with AsyncSession(engine) as session:
        assert await consumer.guard.current(session, subject) == 4


async def test_event_without_handler_is_acked_and_counted(
    engine: AsyncEngine,
    schema: str,
    redis_url: str,
    names: StreamNames,
    redis_client: aioredis.Redis,
) -> None:
    stream = names.events("catalog")
    product = uuid.uuid4()
    unhandled = registry.envelope(
        StockAdjusted(product_id=product, delta=2, stock=5), subject=str(product), sequence=2
    )
    await publish(redis_client, stream, unhandled)
    marker = category_created()
    await publish(redis_client, stream, marker)

    async with make_consumer(engine, schema, redis_url, names).running():
        await wait_for(lambda: effects(engine, schema), lambda rows: len(rows) == 1)
        await wait_for(lambda: pending_count(redis_client, stream, GROUP), lambda n: n == 0)

    labels = {"group": GROUP, "stream": stream, "type": "catalog.stock.adjusted"}
    assert sample("messaging_events_unhandled_total", **labels) == 1


async def test_lag_and_pending_gauges(
    engine: AsyncEngine,
    schema: str,
    redis_url: str,
    names: StreamNames,
    redis_client: aioredis.Redis,
) -> None:
    stream = names.events("catalog")
    for _ in range(3):
        await publish(redis_client, stream, category_created())

    async with make_consumer(engine, schema, redis_url, names).running():
        await wait_for(lambda: effects(engine, schema), lambda rows: len(rows) == 3)

        async def gauges() -> tuple[float | None, float | None]:
            labels = {"group": GROUP, "stream": stream}
            return (
                REGISTRY.get_sample_value("messaging_group_lag", labels),
                REGISTRY.get_sample_value("messaging_group_pending", labels),
            )

        await wait_for(gauges, lambda values: values == (0.0, 0.0), what="lag 0, pending 0")


async def test_handler_registration_is_checked(
    engine: AsyncEngine, schema: str, redis_url: str, names: StreamNames
) -> None:
    consumer = make_consumer(engine, schema, redis_url, names)
    with pytest.raises(ValueError, match="already has a handler"):
        consumer.handler("catalog.category.created")
    with pytest.raises(ValueError, match="unknown event type"):
        consumer.handler("catalog.category.creatd")


async def test_start_fails_cleanly_without_redis(
    engine: AsyncEngine, schema: str, names: StreamNames
) -> None:
    consumer = make_consumer(engine, schema, f"redis://127.0.0.1:{free_port()}/0", names)
    with pytest.raises(RedisConnectionError):
        await consumer.start()
    with pytest.raises(RedisConnectionError):  # and it can be started again
        async with consumer.running():
            pass


async def test_replicas_share_the_group(
    engine: AsyncEngine,
    schema: str,
    redis_url: str,
    names: StreamNames,
    redis_client: aioredis.Redis,
) -> None:
    stream = names.events("catalog")
    envelopes = [category_created(f"c{i}") for i in range(40)]
    first = make_consumer(engine, schema, redis_url, names, consumer_name="r1", batch=2)
    second = make_consumer(engine, schema, redis_url, names, consumer_name="r2", batch=2)
    async with first.running(), second.running():
        for envelope in envelopes:
            await publish(redis_client, stream, envelope)
        await wait_for(lambda: effects(engine, schema), lambda rows: len(rows) >= 40)
        await wait_for(lambda: pending_count(redis_client, stream, GROUP), lambda n: n == 0)

    rows = await effects(engine, schema)
    assert sorted(row[0] for row in rows) == sorted(str(e.id) for e in envelopes)
    consumers: Any = await redis_client.xinfo_consumers(stream, GROUP)
    assert {text_of(c["name"]) for c in consumers} == {"r1", "r2"}
