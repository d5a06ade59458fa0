"""Failures: poison events go to the dead-letter stream after bounded retries, and a
lost stream or consumer group (deleted key, Redis restarted empty) is recreated."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from libs.messaging.tests.integration.support import (
    Bus,
    category_created,
    fast_settings,
    publish,
    record_effect,
    text_of,
    wait_for,
)
from marcus_contracts import STREAM_FIELD, Envelope, StreamNames
from marcus_messaging import (
    DELIVERIES_FIELD,
    ERROR_FIELD,
    ID_ORIGIN_FIELD,
    STREAM_ORIGIN_FIELD,
    Consumer,
    HandlerContext,
    replay_dead_letters,
)
from tests.support.servers import RedisProcess

GROUP = "notifier"
SETTINGS = fast_settings("n1", max_deliveries=3)


def poisoned_consumer(bus: Bus, attempts: list[int], *, redis_url: str | None = None) -> Consumer:
    """Records an effect per category, except for categories named 'poison': it raises."""

    async def fail_on_poison(ctx: HandlerContext) -> None:
        if ctx.event.model_dump()["name"] == "poison":
            attempts.append(ctx.deliveries)
            raise RuntimeError("boom: cannot handle poison")

    return bus.recorder(GROUP, SETTINGS, fail_on_poison, redis_url=redis_url)


async def dead_letters(redis: aioredis.Redis, names: StreamNames) -> list[dict[str, bytes]]:
    entries: Any = await redis.xrange(names.dlq(GROUP))
    return [{text_of(key): value for key, value in fields.items()} for _, fields in entries]


async def test_poison_events_are_retried_then_dead_lettered(bus: Bus) -> None:
    stream = bus.stream
    before = category_created("before")
    bad_json = b'{"specversion": "1.0", "id": '
    poison = category_created("poison")
    after = [category_created(f"after-{i}") for i in range(3)]
    _, bad_id, poison_id = await bus.publish(before, bad_json, poison)
    no_field_id = text_of(await bus.redis.xadd(stream, {"other": "x"}))
    await bus.publish(*after)

    attempts: list[int] = []
    async with poisoned_consumer(bus, attempts).running():
        letters = await wait_for(
            lambda: dead_letters(bus.redis, bus.names),
            lambda found: len(found) == 3,
            what="3 dead letters",
        )
        await bus.drained(GROUP)

    # The good events were not held up by the bad ones, and had one effect each.
    assert sorted(row[0] for row in await bus.effects()) == sorted(
        str(e.id) for e in [before, *after]
    )
    # The handler ran exactly max_deliveries times, with the delivery count rising.
    assert attempts == [1, 2, 3]
    by_origin = {letter[ID_ORIGIN_FIELD].decode(): letter for letter in letters}
    assert set(by_origin) == {bad_id, poison_id, no_field_id}

    poisoned = by_origin[poison_id]
    assert poisoned[STREAM_FIELD] == poison.to_json().encode()
    assert poisoned[DELIVERIES_FIELD] == b"3"
    assert b"RuntimeError: boom" in poisoned[ERROR_FIELD]
    assert poisoned[STREAM_ORIGIN_FIELD] == stream.encode()

    unparseable = by_origin[bad_id]
    assert unparseable[STREAM_FIELD] == bad_json
    assert unparseable[DELIVERIES_FIELD] == b"1"  # no retry can fix bad JSON
    assert b"undecodable" in unparseable[ERROR_FIELD]
    assert b"no 'event' field" in by_origin[no_field_id][ERROR_FIELD]

    labels = {"group": GROUP, "stream": stream, "type": "catalog.category.created"}
    assert REGISTRY.get_sample_value("messaging_events_failed_total", labels) == 3
    assert REGISTRY.get_sample_value("messaging_events_dead_lettered_total", labels) == 1


async def test_deleted_stream_is_recreated_and_consumed(bus: Bus) -> None:
    first, second, third = (category_created(n) for n in ("first", "second", "third"))

    def seen(envelope: Envelope) -> Callable[[list[tuple[str, int, str]]], bool]:
        return lambda rows: str(envelope.id) in {row[0] for row in rows}

    async with poisoned_consumer(bus, []).running():
        await bus.publish(first)
        await bus.effects_until(seen(first), what="first effect")

        await bus.redis.delete(bus.stream)  # the group goes with it
        await bus.publish(second)
        await bus.effects_until(seen(second), what="second effect")

        await bus.redis.xgroup_destroy(bus.stream, GROUP)  # only the group this time
        await bus.publish(third)
        await bus.effects_until(seen(third), what="third effect")

    # Re-reading from 0 after the group was recreated delivers `second` again: a duplicate.
    ids = [row[0] for row in await bus.effects()]
    assert sorted(ids) == sorted(str(e.id) for e in (first, second, third))


@pytest.mark.fault
async def test_redis_restart_without_persistence(bus: Bus) -> None:
    server = RedisProcess()
    server.start()
    client = aioredis.from_url(server.url)
    before, after = category_created("before"), category_created("after")
    try:
        async with poisoned_consumer(bus, [], redis_url=server.url).running():
            await publish(client, bus.stream, before)
            await bus.effects_until(1)

            server.stop()
            server.start()  # empty: no stream, no group
            await client.aclose()
            client = aioredis.from_url(server.url)
            await publish(client, bus.stream, after)
            await bus.effects_until(2, deadline_s=30, what="the event published after the restart")
            await bus.drained(GROUP, redis=client)
    finally:
        await client.aclose()
        server.stop()


async def test_dead_letters_replay_after_a_fix(bus: Bus) -> None:
    consumer = bus.consumer(GROUP, replace(SETTINGS, max_deliveries=1))
    broken = [True]

    @consumer.handler("catalog.category.created")
    async def handle(ctx: HandlerContext) -> None:
        if broken[0]:
            raise RuntimeError("bug")
        await record_effect(ctx, bus.schema, consumer.consumer_name)

    event = category_created()
    await bus.publish(event)
    async with consumer.running():
        await wait_for(lambda: dead_letters(bus.redis, bus.names), lambda found: len(found) == 1)
        broken[0] = False  # "deploy the fix"
        dlq = bus.names.dlq(GROUP)
        assert await replay_dead_letters(bus.redis, dlq_stream=dlq) == 1
        rows = await bus.effects_until(1)
    assert rows[0][0] == str(event.id)
    assert await bus.redis.xlen(bus.names.dlq(GROUP)) == 0
