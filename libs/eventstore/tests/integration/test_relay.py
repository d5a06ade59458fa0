"""The outbox relay against a real PostgreSQL and Redis, on an event store of its own
(a schema per test with `events` and `outbox` only, no service): events go out in the
order they were recorded, in batches, at least once when the relay dies between XADD and
forgetting the batch, exactly one relay leads, and a Redis outage only delays them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis
from psycopg import sql
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from marcus_contracts import STREAM_FIELD, Envelope, registry
from marcus_contracts.events.catalog import CategoryCreated, CategoryUpdated
from marcus_eventstore import EventStore, OutboxRelay, RelaySettings, event_store_tables, libpq_dsn
from tests.support.servers import RedisProcess, wait_for


@pytest.fixture
async def store(engine: AsyncEngine) -> AsyncIterator[EventStore]:
    """An event store in a schema of this test's own, dropped afterwards."""
    schema = f"relay_{uuid.uuid4().hex[:8]}"
    metadata = MetaData()
    tables = event_store_tables(metadata, schema)
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await conn.run_sync(metadata.create_all)
    yield EventStore(tables)
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def settings(
    database_url: str, store: EventStore, stream: str, **overrides: object
) -> RelaySettings:
    fast: dict = {"poll_interval": 0.2, "standby_interval": 0.2, "max_backoff": 0.5}
    return RelaySettings(
        dsn=libpq_dsn(database_url),
        schema=store.tables.schema,
        stream=stream,
        **(fast | overrides),
    )


def history(subjects: int, updates: int) -> list[list[Envelope]]:
    """Commands' events, one list per transaction: each subject created, then renamed
    `updates` times, interleaved across subjects as concurrent commands would be."""
    ids = [uuid.uuid4() for _ in range(subjects)]
    commands = [
        [
            registry.envelope(
                CategoryCreated(category_id=i, slug=f"c-{i.hex[:8]}", name="n"),
                subject=str(i),
                sequence=1,
            )
        ]
        for i in ids
    ]
    for n in range(updates):
        commands += [
            [
                registry.envelope(
                    CategoryUpdated(category_id=i, slug="s", name=f"n{n}"),
                    subject=str(i),
                    sequence=n + 2,
                )
            ]
            for i in ids
        ]
    return commands


async def record(
    engine: AsyncEngine, store: EventStore, commands: Sequence[Sequence[Envelope]]
) -> list[str]:
    """Append each command's events in a transaction of its own; the ids in record order."""
    sessions = async_sessionmaker(engine)
    for envelopes in commands:
        async with sessions.begin() as session:
            await store.append(session, list(envelopes))
    return [str(e.id) for envelopes in commands for e in envelopes]


async def published(redis: aioredis.Redis, stream: str) -> list[str]:
    try:
        entries: Any = await redis.xrange(stream)
    except aioredis.ConnectionError:
        return []
    return [str(Envelope.from_json(fields[STREAM_FIELD.encode()]).id) for _, fields in entries]


async def outbox_size(engine: AsyncEngine, store: EventStore) -> int:
    async with engine.connect() as conn:
        query = text(f'SELECT count(*) FROM "{store.tables.schema}".outbox')
        return int((await conn.execute(query)).scalar_one())


async def running(relay: OutboxRelay) -> tuple[asyncio.Event, asyncio.Task[None]]:
    stop = asyncio.Event()
    return stop, asyncio.create_task(relay.run(stop))


async def test_events_go_out_in_the_order_they_were_recorded(
    engine, store, database_url, redis_client, stream_prefix
) -> None:
    stream = f"{stream_prefix}events.relay"
    recorded = await record(engine, store, history(subjects=5, updates=3))
    relay = OutboxRelay(settings(database_url, store, stream), redis_client)
    stop, task = await running(relay)
    try:
        # Events recorded while the relay runs follow those it found in the outbox.
        recorded += await record(engine, store, history(subjects=2, updates=1))
        await wait_for(
            lambda: _has(redis_client, stream, len(recorded)), within=20, what="every event"
        )
        assert await published(redis_client, stream) == recorded
        assert await outbox_size(engine, store) == 0
    finally:
        stop.set()
        await task


async def test_the_outbox_is_published_in_batches_of_the_configured_size(
    engine, store, database_url, redis_client, stream_prefix
) -> None:
    stream = f"{stream_prefix}events.relay"
    recorded = await record(engine, store, [[e] for c in history(30, 0) for e in c])
    relay = OutboxRelay(settings(database_url, store, stream, batch_size=7), redis_client)
    sizes: list[int] = []
    async with await psycopg.AsyncConnection.connect(
        libpq_dsn(database_url), autocommit=True
    ) as conn:
        while sizes[-1:] != [0]:
            sizes.append(await relay.publish_batch(conn))
            assert await outbox_size(engine, store) == len(recorded) - sum(sizes)
            assert await published(redis_client, stream) == recorded[: sum(sizes)]
    assert sizes == [7, 7, 7, 7, 2, 0]


async def test_a_relay_that_dies_between_xadd_and_the_delete_publishes_again_on_restart(
    engine, store, database_url, redis_client, stream_prefix
) -> None:
    """At-least-once: the batch XADDed before the crash goes out twice, nothing is lost."""
    stream = f"{stream_prefix}events.relay"
    recorded = await record(engine, store, history(subjects=4, updates=2))
    config = settings(database_url, store, stream, batch_size=5)
    crashing = OutboxRelay(config, redis_client)
    # Its connection dies right after the XADD, where the outbox DELETE would run.
    crashing._delete = sql.SQL(
        "SELECT pg_terminate_backend(pg_backend_pid()) WHERE %s::bigint[] IS NOT NULL"
    )
    async with await psycopg.AsyncConnection.connect(config.dsn, autocommit=True) as conn:
        with pytest.raises(psycopg.OperationalError):
            await crashing.publish_batch(conn)
    first_batch = recorded[:5]
    assert await published(redis_client, stream) == first_batch
    assert await outbox_size(engine, store) == len(recorded)  # not marked published

    restarted = OutboxRelay(config, redis_client)
    stop, task = await running(restarted)
    try:
        total = len(first_batch) + len(recorded)
        await wait_for(lambda: _has(redis_client, stream, total), within=20, what="the republish")
        assert await published(redis_client, stream) == first_batch + recorded
        assert await outbox_size(engine, store) == 0
    finally:
        stop.set()
        await task


async def test_one_relay_leads_and_each_event_goes_out_once(
    engine, store, database_url, redis_url, redis_client, stream_prefix
) -> None:
    """Replicas each run a relay: the advisory lock lets one publish, the other stands by."""
    stream = f"{stream_prefix}events.relay"
    config = settings(database_url, store, stream, batch_size=4)
    clients = [aioredis.from_url(redis_url) for _ in range(2)]
    relays = [OutboxRelay(config, client) for client in clients]
    started = [await running(relay) for relay in relays]
    try:
        await wait_for(lambda: any(r.is_leader for r in relays), within=10, what="a leader")
        recorded = await record(engine, store, history(subjects=6, updates=2))
        await wait_for(
            lambda: _has(redis_client, stream, len(recorded)), within=20, what="every event"
        )
        await asyncio.sleep(0.5)  # a second relay publishing would show up by now
        assert sum(r.is_leader for r in relays) == 1
        assert await published(redis_client, stream) == recorded
    finally:
        for stop, _ in started:
            stop.set()
        await asyncio.gather(*(task for _, task in started))
        for client in clients:
            await client.aclose()


async def test_events_recorded_while_redis_is_down_go_out_when_it_returns(
    engine, store, database_url, stream_prefix
) -> None:
    stream = f"{stream_prefix}events.relay"
    server = RedisProcess()
    server.start()
    client = aioredis.from_url(server.url)
    relay = OutboxRelay(settings(database_url, store, stream), client)
    stop, task = await running(relay)
    try:
        before = await record(engine, store, history(subjects=2, updates=0))
        await wait_for(lambda: _has(client, stream, len(before)), within=20, what="first events")

        server.stop()
        during = await record(engine, store, history(subjects=3, updates=1))
        await asyncio.sleep(1.0)  # the relay retries against a Redis that is not there
        assert await outbox_size(engine, store) == len(during)
        assert relay.is_leader and not task.done()

        server.start()  # back empty: it kept nothing on disk
        await wait_for(lambda: _has(client, stream, len(during)), within=20, what="the backlog")
        assert await published(client, stream) == during
        assert await outbox_size(engine, store) == 0
    finally:
        stop.set()
        await task
        await client.aclose()
        server.stop()


async def _has(redis: aioredis.Redis, stream: str, count: int) -> bool:
    try:
        return int(await redis.xlen(stream)) >= count
    except aioredis.ConnectionError:
        return False
