"""Batches: one transaction and one XACK per read, in stream order; a batch that fails
where no single handler can be blamed (at commit) is redone entry by entry."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import psycopg
import redis.asyncio as aioredis
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from marcus_contracts import StreamNames
from marcus_messaging import Consumer, ConsumerSettings, HandlerContext, group_state
from marcus_messaging.batch import _blame, _HandlerFailed
from tests.messaging.support import (
    category_created,
    effects,
    pending_count,
    publish,
    record_effect,
    text_of,
    wait_for,
    wrapped,
)

GROUP = "projector"
SETTINGS = ConsumerSettings(
    consumer_name="p1",
    batch=100,
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
    return Consumer(
        group=GROUP,
        streams=["catalog"],
        engine=engine,
        schema=schema,
        redis_url=redis_url,
        names=names,
        settings=replace(SETTINGS, **settings),
    )


async def test_a_backlog_is_one_transaction_in_stream_order(
    engine: AsyncEngine,
    schema: str,
    redis_url: str,
    names: StreamNames,
    redis_client: aioredis.Redis,
) -> None:
    stream = names.events("catalog")
    envelopes = [category_created(f"c{i}") for i in range(40)]
    for envelope in envelopes[:20]:
        await publish(redis_client, stream, envelope)
    await publish(redis_client, stream, envelopes[3])  # a copy inside the same batch
    for envelope in envelopes[20:]:
        await publish(redis_client, stream, envelope)

    consumer = make_consumer(engine, schema, redis_url, names)
    transactions: set[int] = set()

    @consumer.handler("catalog.category.created")
    async def handle(ctx: HandlerContext) -> None:
        transactions.add(int((await ctx.session.execute(text("SELECT txid_current()"))).one()[0]))
        await record_effect(ctx, schema, consumer.consumer_name)

    async with consumer.running():
        await wait_for(lambda: pending_count(redis_client, stream, GROUP), lambda n: n == 0)
        rows = await wait_for(lambda: effects(engine, schema), lambda rows: len(rows) == 40)

    assert [row[0] for row in rows] == [str(e.id) for e in envelopes]  # in order, once each
    assert len(transactions) == 1
    labels = {"group": GROUP, "stream": stream, "type": "catalog.category.created"}
    assert REGISTRY.get_sample_value("messaging_events_duplicate_total", labels) == 1
    state = await group_state(redis_client, stream, GROUP)
    assert state is not None
    assert int(await redis_client.xlen(stream)) - state.lag == 41 and state.pending == 0


async def test_a_failure_at_commit_is_isolated_entry_by_entry(
    engine: AsyncEngine,
    schema: str,
    redis_url: str,
    names: StreamNames,
    redis_client: aioredis.Redis,
) -> None:
    """A deferred constraint fails at COMMIT, after every handler returned: no handler can
    be blamed, so each entry runs again alone and only the culprit fails (and, with
    max_deliveries=1, is dead-lettered at once)."""
    async with engine.begin() as conn:
        await conn.execute(
            text(f"CREATE TABLE {schema}.names (name text UNIQUE DEFERRABLE INITIALLY DEFERRED)")
        )
        await conn.execute(text(f"INSERT INTO {schema}.names VALUES ('taken')"))
    stream = names.events("catalog")
    envelopes = [category_created(name) for name in ("a", "b", "taken", "c")]
    for envelope in envelopes:
        await publish(redis_client, stream, envelope)

    consumer = make_consumer(engine, schema, redis_url, names, max_deliveries=1)

    @consumer.handler("catalog.category.created")
    async def handle(ctx: HandlerContext) -> None:
        await ctx.session.execute(
            text(f"INSERT INTO {schema}.names VALUES (:name)"),
            {"name": ctx.event.model_dump()["name"]},
        )
        await record_effect(ctx, schema, consumer.consumer_name)

    async with consumer.running():
        await wait_for(lambda: redis_client.xlen(names.dlq(GROUP)), lambda n: n == 1)
        await wait_for(lambda: pending_count(redis_client, stream, GROUP), lambda n: n == 0)

    rows = await effects(engine, schema)
    assert sorted(row[0] for row in rows) == sorted(
        str(e.id) for e in envelopes if e.id != envelopes[2].id
    )
    letters: Any = await redis_client.xrange(names.dlq(GROUP))
    assert b"UniqueViolation" in letters[0][1][b"error"]
    fallbacks = REGISTRY.get_sample_value(
        "messaging_batch_fallbacks_total", {"group": GROUP, "stream": stream}
    )
    assert fallbacks == 1
    assert text_of(letters[0][1][b"origin_stream"]) == stream


def test_who_is_blamed_for_a_failed_batch() -> None:
    def failed(index: int, error: Exception) -> _HandlerFailed:
        try:
            raise _HandlerFailed(index) from error
        except _HandlerFailed as exc:
            return exc

    bug = RuntimeError("bug")
    assert _blame(failed(2, bug)) == (2, bug)  # counted at once, not run again
    assert _blame(failed(2, wrapped(psycopg.errors.UniqueViolation())))[0] == 2
    # Not the handler's own doing: each entry runs again alone.
    assert _blame(failed(2, wrapped(psycopg.errors.DeadlockDetected())))[0] is None
    assert _blame(failed(2, wrapped(psycopg.errors.SerializationFailure())))[0] is None
    assert _blame(failed(2, wrapped(psycopg.errors.InFailedSqlTransaction())))[0] is None
    assert _blame(bug) == (None, bug)  # the ledger insert or the commit
