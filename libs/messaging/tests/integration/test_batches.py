"""Batches: one transaction and one XACK per read, in stream order; a batch that fails
where no single handler can be blamed (at commit) is redone entry by entry."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from prometheus_client import REGISTRY
from sqlalchemy import text

from libs.messaging.tests.integration.support import (
    Bus,
    category_created,
    fast_settings,
    record_effect,
    text_of,
    wait_for,
)
from marcus_messaging import Consumer, HandlerContext, group_state

GROUP = "projector"
SETTINGS = fast_settings("p1", batch=100, reclaim_min_idle_ms=500)


def make_consumer(bus: Bus, **settings: Any) -> Consumer:
    return bus.consumer(GROUP, replace(SETTINGS, **settings))


async def test_a_backlog_is_one_transaction_in_stream_order(bus: Bus) -> None:
    schema, redis_client, stream = bus.schema, bus.redis, bus.stream
    envelopes = [category_created(f"c{i}") for i in range(40)]
    await bus.publish(*envelopes[:20], envelopes[3], *envelopes[20:])  # [3]: a copy in the batch

    consumer = make_consumer(bus)
    transactions: set[int] = set()

    @consumer.handler("catalog.category.created")
    async def handle(ctx: HandlerContext) -> None:
        transactions.add(int((await ctx.session.execute(text("SELECT txid_current()"))).one()[0]))
        await record_effect(ctx, schema, consumer.consumer_name)

    async with consumer.running():
        await bus.drained(GROUP)
        rows = await bus.effects_until(40)

    assert [row[0] for row in rows] == [str(e.id) for e in envelopes]  # in order, once each
    assert len(transactions) == 1
    labels = {"group": GROUP, "stream": stream, "type": "catalog.category.created"}
    assert REGISTRY.get_sample_value("messaging_events_duplicate_total", labels) == 1
    state = await group_state(redis_client, stream, GROUP)
    assert state is not None
    assert int(await redis_client.xlen(stream)) - state.lag == 41 and state.pending == 0


async def test_the_next_batch_is_read_ahead_but_commits_after_its_predecessor(bus: Bus) -> None:
    """While the first batch's handler holds its transaction open, the second batch is
    read (pending grows to two batches, never three), yet its handlers run only after
    the first batch committed: batches commit one at a time, in stream order."""
    schema = bus.schema
    envelopes = [category_created(f"c{i}") for i in range(20)]
    await bus.publish(*envelopes)

    consumer = make_consumer(bus, batch=5)
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
                    lambda: bus.pending(GROUP),
                    lambda n: n >= 10,
                    interval=0.01,
                    what="the second batch to be read ahead",
                )
            )
            # A negative needs a window: three of the subscriber's polling intervals
            # (block_ms=100), in which an unbounded read-ahead would take a third batch.
            # (Redis 7.0's XINFO `idle` is not reset by an empty read, so it can't tell.)
            await asyncio.sleep(0.3)
            held.append(await bus.pending(GROUP))
        if len(calls) % 5 == 1:  # a batch's first handler: its predecessor has committed
            committed.append(len(await bus.effects()))
        await record_effect(ctx, schema, consumer.consumer_name)

    async with consumer.running():
        rows = await bus.effects_until(20)
        await bus.drained(GROUP)

    assert held == [10, 10]  # two batches this replica's, the second not yet started
    assert [event_id for event_id, _ in calls] == [str(e.id) for e in envelopes]
    assert [row[0] for row in rows] == [str(e.id) for e in envelopes]
    assert committed == [0, 5, 10, 15]  # seen from another connection: committed
    assert len({txid for _, txid in calls}) == 4  # four batches of five, one transaction each


async def test_a_failure_at_commit_is_isolated_entry_by_entry(bus: Bus) -> None:
    """A deferred constraint fails at COMMIT, after every handler returned: no handler can
    be blamed, so each entry runs again alone and only the culprit fails (and, with
    max_deliveries=1, is dead-lettered at once)."""
    engine, schema, redis_client, stream = bus.engine, bus.schema, bus.redis, bus.stream
    async with engine.begin() as conn:
        await conn.execute(
            text(f"CREATE TABLE {schema}.names (name text UNIQUE DEFERRABLE INITIALLY DEFERRED)")
        )
        await conn.execute(text(f"INSERT INTO {schema}.names VALUES ('taken')"))
    envelopes = [category_created(name) for name in ("a", "b", "taken", "c")]
    await bus.publish(*envelopes)

    consumer = make_consumer(bus, max_deliveries=1)

    @consumer.handler("catalog.category.created")
    async def handle(ctx: HandlerContext) -> None:
        await ctx.session.execute(
            text(f"INSERT INTO {schema}.names VALUES (:name)"),
            {"name": ctx.event.model_dump()["name"]},
        )
        await record_effect(ctx, schema, consumer.consumer_name)

    async with consumer.running():
        await wait_for(lambda: redis_client.xlen(bus.names.dlq(GROUP)), lambda n: n == 1)
        await bus.drained(GROUP)

    rows = await bus.effects()
    assert sorted(row[0] for row in rows) == sorted(
        str(e.id) for e in envelopes if e.id != envelopes[2].id
    )
    letters: Any = await redis_client.xrange(bus.names.dlq(GROUP))
    assert b"UniqueViolation" in letters[0][1][b"error"]
    fallbacks = REGISTRY.get_sample_value(
        "messaging_batch_fallbacks_total", {"group": GROUP, "stream": stream}
    )
    assert fallbacks == 1
    assert text_of(letters[0][1][b"origin_stream"]) == stream


async def test_handlers_share_a_scope_per_transaction_and_write_once_before_commit(
    bus: Bus,
) -> None:
    """The per-batch hook: every handler of a batch sees the same `ctx.transaction`, whose
    `events` list the batch's fresh events up front; one callback writes all effects in
    one statement, before the commit."""
    schema = bus.schema
    envelopes = [category_created(f"s{i}") for i in range(30)]
    await bus.publish(*envelopes)
    consumer = make_consumer(bus)
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
        await bus.drained(GROUP)
        rows = await bus.effects_until(30)

    assert [row[0] for row in rows] == [str(e.id) for e in envelopes]
    assert scopes == [[str(e.id) for e in envelopes]]  # one batch, one write


async def test_a_failing_before_commit_callback_redoes_the_batch_entry_by_entry(bus: Bus) -> None:
    """A callback blames no handler: every entry runs again alone, in a scope of its own,
    and only the entry whose own write fails is dead-lettered."""
    schema, redis_client, stream = bus.schema, bus.redis, bus.stream
    envelopes = [category_created(name) for name in ("a", "b", "poison", "c")]
    await bus.publish(*envelopes)
    consumer = make_consumer(bus, max_deliveries=1)
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
        await wait_for(lambda: redis_client.xlen(bus.names.dlq(GROUP)), lambda n: n == 1)
        await bus.drained(GROUP)

    assert scope_sizes == [4, 1, 1, 1, 1]  # the batch, then each entry alone
    assert len(await bus.effects()) == 3
    letters: Any = await redis_client.xrange(bus.names.dlq(GROUP))
    assert text_of(letters[0][1][b"origin_id"]) == text_of(
        (await redis_client.xrange(stream))[2][0]
    )
