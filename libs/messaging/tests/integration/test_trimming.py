"""Issue 19, finding 5: trimming never drops an entry a group still needs, and a pending
entry that disappeared anyway is reported (logged and counted), not mistaken for one
another replica took. Real Redis and PostgreSQL."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import pytest
import redis.asyncio as aioredis

from libs.messaging.tests.integration.support import (
    Bus,
    category_created,
    publish,
    text_of,
    wait_for,
)
from libs.messaging.tests.integration.test_consumer import FAST, GROUP, sample
from marcus_contracts import StreamNames
from marcus_eventstore.trimming import (
    age_id,
    consumed_floor,
    trim_consumed,
    trim_if_longer,
)
from marcus_messaging import HandlerContext
from scripts.streams import trim


async def _ids(redis: aioredis.Redis, stream: str) -> list[str]:
    return [text_of(entry_id) for entry_id, _ in await redis.xrange(stream)]


async def test_finding_5_trimming_keeps_what_a_lagging_group_has_not_read_or_acknowledged(
    redis_client: aioredis.Redis, names: StreamNames
) -> None:
    stream = names.events("catalog")
    ids = [await publish(redis_client, stream, category_created(f"c{i}")) for i in range(10)]
    assert await consumed_floor(redis_client, stream) is None  # no group: nothing is consumed
    assert await trim_if_longer(redis_client, stream, maxlen=2) == 0
    await redis_client.xgroup_create(stream, "fast", id="0")
    await redis_client.xgroup_create(stream, "slow", id="0")
    await redis_client.xreadgroup("fast", "f1", {stream: ">"})
    await redis_client.xack(stream, "fast", *ids)
    await redis_client.xreadgroup("slow", "s1", {stream: ">"}, count=4)
    await redis_client.xack(stream, "slow", ids[0], ids[1], ids[3])  # ids[2] stays pending

    assert await consumed_floor(redis_client, stream) == ids[2]
    assert await trim_if_longer(redis_client, stream, maxlen=2) == 2
    assert await _ids(redis_client, stream) == ids[2:]  # pending and unread entries kept
    assert await trim_if_longer(redis_client, stream, maxlen=100) == 0  # short enough

    await redis_client.xack(stream, "slow", ids[2])
    await redis_client.xreadgroup("slow", "s1", {stream: ">"})
    await redis_client.xack(stream, "slow", *ids[4:])
    removed, _ = await trim_consumed(redis_client, stream, older_than=age_id(days=1))
    assert (removed, await _ids(redis_client, stream)) == (0, ids[2:])  # all newer than a day
    removed, _ = await trim_consumed(redis_client, stream)
    assert removed == 8 and await _ids(redis_client, stream) == []


async def test_finding_5_a_claim_of_a_trimmed_entry_is_logged_and_counted(
    bus: Bus, caplog: pytest.LogCaptureFixture
) -> None:
    consumer = bus.consumer(GROUP, replace(FAST, max_deliveries=10_000))

    @consumer.handler("catalog.category.created")
    async def failing(ctx: HandlerContext) -> None:
        raise RuntimeError("keeps failing, so the entry stays pending")

    [entry_id] = await bus.publish(category_created())
    labels = {"group": GROUP, "stream": bus.stream, "reason": "deleted"}
    before = sample("messaging_reclaim_empty_total", **labels)
    with caplog.at_level(logging.ERROR, logger="marcus.messaging"):
        async with consumer.running():
            await wait_for(lambda: bus.pending(GROUP), lambda n: n == 1, what="pending")
            await bus.redis.xdel(bus.stream, entry_id)  # as an approximate MAXLEN trim would
            await wait_for(
                lambda: _sampled(labels), lambda n: n > before, what="the lost entry counted"
            )
    assert await bus.pending(GROUP) == 0
    assert any(
        "no longer in the stream" in record.getMessage() and entry_id in record.getMessage()
        for record in caplog.records
    )


async def _sampled(labels: dict[str, str]) -> float:
    return sample("messaging_reclaim_empty_total", **labels)


async def test_finding_5_the_operators_trim_command_is_safe(
    redis_url: str, redis_client: aioredis.Redis, names: StreamNames, stream_prefix: str
) -> None:
    """`make trim-streams`: old dead letters go; event entries only when older than asked
    and consumed by every group; a report changes nothing."""
    old = int((time.time() - 40 * 86400) * 1000)
    events, dlq = names.events("catalog"), f"{stream_prefix}dlq.indexer"
    for i in range(4):
        await redis_client.xadd(events, {"event": b"{}"}, id=f"{old + i}-0")
        await redis_client.xadd(dlq, {"event": b"{}"}, id=f"{old + i}-0")
    await redis_client.xadd(dlq, {"event": b"{}"})  # a recent dead letter
    await redis_client.xgroup_create(events, "indexer", id="0")
    read = await redis_client.xreadgroup("indexer", "i1", {events: ">"}, count=2)
    await redis_client.xack(events, "indexer", *[entry_id for entry_id, _ in read[0][1]])

    def by_stream(report: list[tuple[str, int, str]]) -> dict[str, int]:
        return {stream: count for stream, count, _ in report}

    kwargs = {"events_days": 30.0, "dlq_days": 30.0}
    dry = await trim(redis_url, stream_prefix, apply=False, **kwargs)
    assert by_stream(dry) == {events: 2, dlq: 4}
    assert (await redis_client.xlen(events), await redis_client.xlen(dlq)) == (4, 5)
    kept = await trim(redis_url, stream_prefix, events_days=None, dlq_days=30, apply=False)
    assert by_stream(kept)[events] == 0
    applied = await trim(redis_url, stream_prefix, apply=True, **kwargs)
    assert by_stream(applied) == {events: 2, dlq: 4}
    assert (await redis_client.xlen(events), await redis_client.xlen(dlq)) == (2, 1)
