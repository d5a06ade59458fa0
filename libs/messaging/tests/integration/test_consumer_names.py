"""Issue 19, finding 11: names of stopped consumers (host-pid) do not pile up in a group:
idle ones with nothing pending are deleted, by the runtime itself. Real Redis."""

from __future__ import annotations

from dataclasses import replace

import redis.asyncio as aioredis

from libs.messaging.tests.integration.support import (
    Bus,
    category_created,
    publish,
    text_of,
    wait_for,
)
from libs.messaging.tests.integration.test_consumer import FAST, GROUP
from marcus_contracts import StreamNames
from marcus_messaging import HandlerContext
from marcus_messaging.groups import delete_idle_consumers, ensure_group


async def _names(redis: aioredis.Redis, stream: str) -> set[str]:
    return {text_of(c["name"]) for c in await redis.xinfo_consumers(stream, GROUP)}


async def test_finding_11_idle_consumers_without_pending_entries_are_deleted(
    redis_client: aioredis.Redis, names: StreamNames
) -> None:
    stream = names.events("catalog")
    await ensure_group(redis_client, stream, GROUP)
    for _ in range(3):
        await publish(redis_client, stream, category_created())
    done = await redis_client.xreadgroup(GROUP, "host-101", {stream: ">"}, count=1)
    await redis_client.xack(stream, GROUP, done[0][1][0][0])
    await redis_client.xreadgroup(GROUP, "host-102", {stream: ">"}, count=1)  # stays pending
    mine = await redis_client.xreadgroup(GROUP, "host-103", {stream: ">"}, count=1)
    await redis_client.xack(stream, GROUP, mine[0][1][0][0])
    assert await _names(redis_client, stream) == {"host-101", "host-102", "host-103"}

    kept = await delete_idle_consumers(
        redis_client, stream, GROUP, keep="me", min_idle_ms=3_600_000
    )
    assert kept == []  # none idle for an hour yet
    deleted = await delete_idle_consumers(
        redis_client, stream, GROUP, keep="host-103", min_idle_ms=0
    )
    assert deleted == ["host-101"]
    assert await _names(redis_client, stream) == {"host-102", "host-103"}  # pending, or me


async def test_finding_11_a_running_consumer_deletes_the_names_of_stopped_ones(
    bus: Bus,
) -> None:
    redis_client, stream = bus.redis, bus.stream
    await ensure_group(redis_client, stream, GROUP)
    for pid in range(5):  # five restarts' worth of names, each idle with nothing pending
        await bus.publish(category_created())
        read = await redis_client.xreadgroup(GROUP, f"old-host-{pid}", {stream: ">"})
        await redis_client.xack(stream, GROUP, read[0][1][0][0])
    assert len(await _names(redis_client, stream)) == 5
    consumer = bus.consumer(
        GROUP,
        replace(
            FAST, idle_consumer_ms=200, consumer_cleanup_interval_ms=100, metrics_interval_ms=100
        ),
    )

    @consumer.handler("catalog.category.created")
    async def ignore(ctx: HandlerContext) -> None:
        return None

    async with consumer.running():
        await bus.publish(category_created())  # delivered to c1
        await wait_for(
            lambda: _names(redis_client, stream),
            lambda found: not any(name.startswith("old-host-") for name in found),
            what="the stopped consumers' names deleted",
        )
