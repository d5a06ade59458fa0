"""Helpers shared by the messaging tests and the subprocess consumer (`consumer_app`)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from marcus_contracts import STREAM_FIELD, Envelope, StreamNames, registry
from marcus_contracts.events.catalog import CategoryCreated, CategoryUpdated
from marcus_messaging import Consumer, ConsumerSettings, HandlerContext, create_ledger_tables

T = TypeVar("T")


def fast_settings(consumer_name: str, **overrides: Any) -> ConsumerSettings:
    """A consumer's settings for the tests: short blocks, quick reclaim, backoff and metrics,
    a quick shutdown; `overrides` for what a test needs besides."""
    values: dict[str, Any] = {
        "block_ms": 100,
        "reclaim_interval_ms": 50,
        "reclaim_min_idle_ms": 400,
        "backoff_base_ms": 50,
        "metrics_interval_ms": 100,
        "shutdown_timeout_s": 2,
    }
    return ConsumerSettings(consumer_name=consumer_name, **(values | overrides))


def consumer_of(
    group: str,
    source: str,
    engine: AsyncEngine,
    schema: str,
    redis_url: str,
    names: StreamNames,
    settings: ConsumerSettings,
) -> Consumer:
    """A consumer of `source`'s events, with no handler yet."""
    return Consumer(
        group=group,
        engine=engine,
        schema=schema,
        streams=[source],
        redis_url=redis_url,
        names=names,
        settings=settings,
    )


def recording(
    consumer: Consumer, schema: str, then: Callable[[HandlerContext], Awaitable[None]]
) -> Consumer:
    """`consumer`, recording an effect for every category created, then calling `then` (a
    test's fault: when it raises, the effect is rolled back with the event)."""

    @consumer.handler("catalog.category.created")
    async def handle(ctx: HandlerContext) -> None:
        await record_effect(ctx, schema, consumer.consumer_name)
        await then(ctx)

    return consumer


async def nothing_more(ctx: HandlerContext) -> None:
    """A `then` for a consumer that only records its effects."""


@dataclass
class Bus:
    """What a consuming test works with: its schema (ledger and `effects`), Redis under
    its own prefix and the catalog stream there, so each test says only what differs."""

    engine: AsyncEngine
    schema: str
    redis_url: str
    names: StreamNames
    redis: aioredis.Redis

    @property
    def stream(self) -> str:
        return self.names.events("catalog")

    def consumer(
        self,
        group: str,
        settings: ConsumerSettings,
        *,
        engine: AsyncEngine | None = None,
        redis_url: str | None = None,
    ) -> Consumer:
        """A consumer of the catalog stream, with no handler yet; `engine` and `redis_url`
        for one that reaches the servers another way (a proxy, a server of its own)."""
        return consumer_of(
            group,
            "catalog",
            engine or self.engine,
            self.schema,
            redis_url or self.redis_url,
            self.names,
            settings,
        )

    def recorder(
        self,
        group: str,
        settings: ConsumerSettings,
        then: Callable[[HandlerContext], Awaitable[None]] = nothing_more,
        *,
        redis_url: str | None = None,
    ) -> Consumer:
        """A consumer of the catalog stream that records an effect per category created,
        then calls `then`."""
        return recording(self.consumer(group, settings, redis_url=redis_url), self.schema, then)

    async def publish(self, *envelopes: Envelope | bytes) -> list[str]:
        """Publish to the catalog stream, in order; the entry ids."""
        return [await publish(self.redis, self.stream, envelope) for envelope in envelopes]

    async def effects(self) -> list[tuple[str, int, str]]:
        return await effects(self.engine, self.schema)

    async def effects_until(
        self,
        done: int | Callable[[list[tuple[str, int, str]]], bool],
        *,
        what: str = "effects",
        deadline_s: float = 20.0,
    ) -> list[tuple[str, int, str]]:
        """Wait for the recorded effects to be `done` (a count, or a test of the rows)."""
        test = (lambda rows: len(rows) == done) if isinstance(done, int) else done
        return await wait_for(self.effects, test, what=what, deadline_s=deadline_s)

    async def drained(
        self, group: str, *, redis: aioredis.Redis | None = None, what: str = "acks"
    ) -> None:
        """Wait until `group` has nothing pending on the catalog stream (all acked)."""
        client = redis or self.redis
        await wait_for(
            lambda: pending_count(client, self.stream, group), lambda n: n == 0, what=what
        )

    async def pending(self, group: str) -> int:
        return await pending_count(self.redis, self.stream, group)


def category_created(name: str = "Shoes", *, subject: uuid.UUID | None = None) -> Envelope:
    category_id = subject or uuid.uuid4()
    event = CategoryCreated(category_id=category_id, slug=f"c-{category_id.hex[:8]}", name=name)
    return registry.envelope(event, subject=str(category_id), sequence=1)


def category_updated(subject: str, sequence: int, name: str) -> Envelope:
    event = CategoryUpdated(category_id=uuid.UUID(subject), slug="s", name=name)
    return registry.envelope(event, subject=subject, sequence=sequence)


async def publish(redis: aioredis.Redis, stream: str, envelope: Envelope | bytes) -> str:
    """XADD exactly as the outbox relay does: one `event` field with the envelope JSON."""
    value = envelope if isinstance(envelope, bytes) else envelope.to_json()
    entry_id: Any = await redis.xadd(stream, {STREAM_FIELD: value})
    return text_of(entry_id)


def text_of(value: Any) -> str:
    """redis-py answers bytes (no decode_responses); typed as bytes | str."""
    return value.decode() if isinstance(value, bytes) else str(value)


async def create_tables(engine: AsyncEngine, schema: str) -> None:
    """Ledger tables plus `effects`, the side effect the tests count (no unique key, so a
    duplicated effect would show)."""
    await create_ledger_tables(engine, schema)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS {schema}.effects ("
                " id bigserial PRIMARY KEY, event_id uuid NOT NULL, type text NOT NULL,"
                " subject text NOT NULL, sequence int NOT NULL, consumer text NOT NULL)"
            )
        )


async def record_effect(ctx: HandlerContext, schema: str, consumer: str) -> None:
    await ctx.session.execute(
        text(
            f"INSERT INTO {schema}.effects (event_id, type, subject, sequence, consumer)"
            " VALUES (:event_id, :type, :subject, :sequence, :consumer)"
        ),
        {
            "event_id": ctx.envelope.id,
            "type": ctx.envelope.type,
            "subject": ctx.envelope.subject,
            "sequence": ctx.envelope.sequence,
            "consumer": consumer,
        },
    )


async def effects(engine: AsyncEngine, schema: str) -> list[tuple[str, int, str]]:
    """(event id, sequence, consumer) of every recorded effect, in insertion order."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(f"SELECT event_id::text, sequence, consumer FROM {schema}.effects ORDER BY id")
        )
        return [(row[0], row[1], row[2]) for row in rows]


async def wait_for(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    deadline_s: float = 20.0,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Poll `probe` until `done(value)`; fail with the last value at the deadline."""
    deadline = time.monotonic() + deadline_s
    while True:
        value = await probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last value: {value!r}")
        await asyncio.sleep(interval)


async def pending_count(redis: aioredis.Redis, stream: str, group: str) -> int:
    summary = await redis.xpending(stream, group)
    return int(summary["pending"])
