"""Consuming with a real Redis and PostgreSQL: backlog, duplicates, stale events, types
without a handler, metrics."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import pytest
from prometheus_client import REGISTRY
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.ext.asyncio import AsyncSession

from libs.messaging.tests.integration.support import (
    Bus,
    category_created,
    category_updated,
    fast_settings,
    record_effect,
    text_of,
    wait_for,
)
from marcus_contracts import registry
from marcus_contracts.events.catalog import StockAdjusted
from marcus_messaging import Consumer, HandlerContext, ensure_group
from tests.support.servers import free_port

GROUP = "indexer"
FAST = fast_settings("c1", reclaim_min_idle_ms=500)


def make_consumer(bus: Bus, *, redis_url: str | None = None, **settings: Any) -> Consumer:
    """Records an effect per category created, and per update that advances its subject."""
    consumer = bus.recorder(GROUP, replace(FAST, **settings), redis_url=redis_url)

    @consumer.handler("catalog.category.updated")
    async def updated(ctx: HandlerContext) -> None:
        if await ctx.advance():
            await record_effect(ctx, bus.schema, consumer.consumer_name)

    return consumer


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_backlog_published_before_start_is_consumed_once(bus: Bus) -> None:
    envelopes = [category_created(f"c{i}") for i in range(5)]
    await bus.publish(*envelopes)

    async with make_consumer(bus).running():
        rows = await bus.effects_until(lambda rows: len(rows) >= 5, what="5 effects")
        await bus.drained(GROUP)

    assert sorted(row[0] for row in rows) == sorted(str(e.id) for e in envelopes)
    assert len(await bus.effects()) == 5
    labels = {"group": GROUP, "stream": bus.stream, "type": "catalog.category.created"}
    assert sample("messaging_events_consumed_total", **labels) == 5


async def test_existing_group_created_by_someone_else_at_zero_is_kept(bus: Bus) -> None:
    await ensure_group(bus.redis, bus.stream, GROUP)
    assert not await ensure_group(bus.redis, bus.stream, GROUP)  # BUSYGROUP is fine
    await bus.publish(category_created())

    async with make_consumer(bus).running():
        await bus.effects_until(1)


async def test_duplicate_delivery_has_one_effect(bus: Bus) -> None:
    twice = category_created("twice")
    await bus.publish(twice, twice)
    marker = category_created("after")

    async with make_consumer(bus).running():
        await bus.publish(twice, marker)  # a third copy, while running
        await bus.effects_until(
            lambda rows: str(marker.id) in {row[0] for row in rows}, what="the marker effect"
        )
        await bus.drained(GROUP)

    ids = [row[0] for row in await bus.effects()]
    assert ids.count(str(twice.id)) == 1
    assert len(ids) == 2
    labels = {"group": GROUP, "stream": bus.stream, "type": "catalog.category.created"}
    assert sample("messaging_events_duplicate_total", **labels) == 2


async def test_stale_sequence_is_skipped(bus: Bus) -> None:
    created = category_created("v1")
    subject = created.subject
    newer = category_updated(subject, 3, "v3")
    older = category_updated(subject, 2, "v2")  # arrives after v3: stale
    newest = category_updated(subject, 4, "v4")
    await bus.publish(created, newer, older, newest)

    consumer = make_consumer(bus)
    async with consumer.running():
        await bus.drained(GROUP)
        await bus.effects_until(3, what="3 effects")

    assert [row[1] for row in await bus.effects()] == [1, 3, 4]
    async with AsyncSession(bus.engine) as session:
        assert await consumer.guard.current(session, subject) == 4


async def test_event_without_handler_is_acked_and_counted(bus: Bus) -> None:
    product = uuid.uuid4()
    unhandled = registry.envelope(
        StockAdjusted(product_id=product, delta=2, stock=5), subject=str(product), sequence=2
    )
    await bus.publish(unhandled, category_created())

    async with make_consumer(bus).running():
        await bus.effects_until(1)
        await bus.drained(GROUP)

    labels = {"group": GROUP, "stream": bus.stream, "type": "catalog.stock.adjusted"}
    assert sample("messaging_events_unhandled_total", **labels) == 1


async def test_lag_and_pending_gauges(bus: Bus) -> None:
    await bus.publish(*(category_created() for _ in range(3)))

    async with make_consumer(bus).running():
        await bus.effects_until(3)

        async def gauges() -> tuple[float | None, float | None]:
            labels = {"group": GROUP, "stream": bus.stream}
            return (
                REGISTRY.get_sample_value("messaging_group_lag", labels),
                REGISTRY.get_sample_value("messaging_group_pending", labels),
            )

        await wait_for(gauges, lambda values: values == (0.0, 0.0), what="lag 0, pending 0")


async def test_handler_registration_is_checked(bus: Bus) -> None:
    consumer = make_consumer(bus)
    with pytest.raises(ValueError, match="already has a handler"):
        consumer.handler("catalog.category.created")
    with pytest.raises(ValueError, match="unknown event type"):
        consumer.handler("catalog.category.creatd")


async def test_start_fails_cleanly_without_redis(bus: Bus) -> None:
    consumer = make_consumer(bus, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(RedisConnectionError):
        await consumer.start()
    with pytest.raises(RedisConnectionError):  # and it can be started again
        async with consumer.running():
            pass


async def test_replicas_share_the_group(bus: Bus) -> None:
    envelopes = [category_created(f"c{i}") for i in range(40)]
    first = make_consumer(bus, consumer_name="r1", batch=2)
    second = make_consumer(bus, consumer_name="r2", batch=2)
    async with first.running(), second.running():
        await bus.publish(*envelopes)
        await bus.effects_until(lambda rows: len(rows) >= 40)
        await bus.drained(GROUP)

    rows = await bus.effects()
    assert sorted(row[0] for row in rows) == sorted(str(e.id) for e in envelopes)
    consumers: Any = await bus.redis.xinfo_consumers(bus.stream, GROUP)
    assert {text_of(c["name"]) for c in consumers} == {"r1", "r2"}
