"""Batches: one transaction and one XACK per read, in stream order; a batch that fails
where no single handler can be blamed (at commit) is redone entry by entry."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import psycopg
import redis.asyncio as aioredis
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.messaging.tests.integration.support import (
    category_created,
    effects,
    pending_count,
    publish,
    record_effect,
    text_of,
    wait_for,
    wrapped,
)
from marcus_contracts import StreamNames
from marcus_messaging import Consumer, ConsumerSettings, HandlerContext, group_state
from marcus_messaging.batch import _blame, _HandlerFailed

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


async def test_the_next_batch_is_read_ahead_but_commits_after_its_predecessor(
    engine: AsyncEngine,
    schema: str,
    redis_url: str,
    names: StreamNames,
    redis_client: aioredis.Redis,
) -> None:
    """While the first batch's handler holds its transaction open, the second batch is
    read (pending grows to two batches, never three), yet its handlers run only after
    the first batch committed: batches commit one at a time, in stream order."""
    stream = names.events("catalog")
    envelopes = [category_created(f"c{i}") for i in range(20)]
    for envelope in envelopes:
        await publish(redis_client, stream, envelope)

    consumer = make_consumer(engine, schema, redis_url, names, batch=5)
    calls: list[tuple[str, int]] = []
    held: list[int] = []
    committed: list[int] = []

    @consumer.handler("catalog.category.created")
    async def handle(ctx: HandlerContext) -> None:
        txid = int((await ctx.session.execute(text("SELECT txid_current()"))).one()[0])
        calls.append((str(ctx.envelope.id), txid))
        if len(calls) == 1:  # hold the first batch until the next one has been read
            held.append(
                await wait_for(
                    lambda: pending_count(redis_client, stream, GROUP),
                    lambda n: n >= 10,
                    interval=0.01,
                    what="the second batch to be read ahead",
                )
            )
            # A negative needs a window: three of the subscriber's polling intervals
            # (block_ms=100), in which an unbounded read-ahead would take a third batch.
            # (Redis 7.0's XINFO `idle` is not reset by an empty read, so it can't tell.)
            await asyncio.sleep(0.3)
            held.append(await pending_count(redis_client, stream, GROUP))
        if len(calls) % 5 == 1:  # a batch's first handler: its predecessor has committed
            committed.append(len(await effects(engine, schema)))
        await record_effect(ctx, schema, consumer.consumer_name)

    async with consumer.running():
        rows = await wait_for(lambda: effects(engine, schema), lambda rows: len(rows) == 20)
        await wait_for(lambda: pending_count(redis_client, stream, GROUP), lambda n: n == 0)

    assert held == [10, 10]  # two batches this replica's, the second not yet started
    assert [event_id for event_id, _ in calls] == [str(e.id) for e in envelopes]
    assert [row[0] for row in rows] == [str(e.id) for e in envelopes]
    assert committed == [0, 5, 10, 15]  # seen from another connection: committed
    assert len({txid for _, txid in calls}) == 4  # four batches of five, one transaction each


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


async def test_handlers_share_a_scope_per_transaction_and_write_once_before_commit(
    engine: AsyncEngine,
    schema: str,
    redis_url: str,
    names: StreamNames,
    redis_client: aioredis.Redis,
) -> None:
    """The per-batch hook: every handler of a batch sees the same `ctx.transaction`, whose
    `events` list the batch's fresh events up front; one callback writes all effects in
    one statement, before the commit."""
    stream = names.events("catalog")
    envelopes = [category_created(f"s{i}") for i in range(30)]
    for envelope in envelopes:
        await publish(redis_client, stream, envelope)
    consumer = make_consumer(engine, schema, redis_url, names)
    scopes: list[list[str]] = []  # per callback run: the event ids it wrote

    @consumer.handler("catalog.category.created")
    async def handle(ctx: HandlerContext) -> None:
        pending = ctx.transaction.state.get("pending")
        if pending is None:
            pending = ctx.transaction.state["pending"] = []
            expected = [str(event.model_dump()["category_id"]) for event in ctx.transaction.events]

            async def write() -> None:
                assert [subject for subject, _ in pending] == expected  # known up front
                await ctx.session.execute(
                    text(
                        f"INSERT INTO {schema}.effects (event_id, type, subject, sequence,"
                        " consumer) SELECT e, 't', s, 1, 'p1'"
                        " FROM unnest(CAST(:events AS uuid[]), CAST(:subjects AS text[]))"
                        " AS u(e, s)"
                    ),
                    {
                        "events": [event_id for _, event_id in pending],
                        "subjects": [subject for subject, _ in pending],
                    },
                )
                scopes.append([event_id for _, event_id in pending])

            ctx.transaction.before_commit(write)
        pending.append((ctx.envelope.subject, str(ctx.envelope.id)))

    async with consumer.running():
        await wait_for(lambda: pending_count(redis_client, stream, GROUP), lambda n: n == 0)
        rows = await wait_for(lambda: effects(engine, schema), lambda rows: len(rows) == 30)

    assert [row[0] for row in rows] == [str(e.id) for e in envelopes]
    assert scopes == [[str(e.id) for e in envelopes]]  # one batch, one write


async def test_a_failing_before_commit_callback_redoes_the_batch_entry_by_entry(
    engine: AsyncEngine,
    schema: str,
    redis_url: str,
    names: StreamNames,
    redis_client: aioredis.Redis,
) -> None:
    """A callback blames no handler: every entry runs again alone, in a scope of its own,
    and only the entry whose own write fails is dead-lettered."""
    stream = names.events("catalog")
    envelopes = [category_created(name) for name in ("a", "b", "poison", "c")]
    for envelope in envelopes:
        await publish(redis_client, stream, envelope)
    consumer = make_consumer(engine, schema, redis_url, names, max_deliveries=1)
    scope_sizes: list[int] = []

    @consumer.handler("catalog.category.created")
    async def handle(ctx: HandlerContext) -> None:
        scope = ctx.transaction
        if "names" not in scope.state:
            scope.state["names"] = []
            scope_sizes.append(len(scope.events))

            async def write() -> None:
                if "poison" in scope.state["names"]:
                    raise RuntimeError("poison in this transaction")
                await record_effect(ctx, schema, consumer.consumer_name)

            scope.before_commit(write)
        scope.state["names"].append(ctx.event.model_dump()["name"])

    async with consumer.running():
        await wait_for(lambda: redis_client.xlen(names.dlq(GROUP)), lambda n: n == 1)
        await wait_for(lambda: pending_count(redis_client, stream, GROUP), lambda n: n == 0)

    assert scope_sizes == [4, 1, 1, 1, 1]  # the batch, then each entry alone
    assert len(await effects(engine, schema)) == 3
    letters: Any = await redis_client.xrange(names.dlq(GROUP))
    assert text_of(letters[0][1][b"origin_id"]) == text_of(
        (await redis_client.xrange(stream))[2][0]
    )
