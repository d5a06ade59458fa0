"""Helpers shared by the messaging tests and the subprocess consumer (`consumer_app`)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
import redis.asyncio as aioredis
from sqlalchemy import exc as sa_exc
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


def recording_consumer(
    group: str,
    source: str,
    engine: AsyncEngine,
    schema: str,
    redis_url: str,
    names: StreamNames,
    settings: ConsumerSettings,
    then: Callable[[HandlerContext], Awaitable[None]],
) -> Consumer:
    """A consumer of `source`'s events that records an effect for every category created,
    then calls `then` (a test's fault: when it raises, the effect is rolled back with the
    event)."""
    consumer = Consumer(
        group=group,
        engine=engine,
        schema=schema,
        streams=[source],
        redis_url=redis_url,
        names=names,
        settings=settings,
    )

    @consumer.handler("catalog.category.created")
    async def handle(ctx: HandlerContext) -> None:
        await record_effect(ctx, schema, consumer.consumer_name)
        await then(ctx)

    return consumer


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


def wrapped(error: Exception) -> sa_exc.DBAPIError:
    """What SQLAlchemy raises for a driver error: the driver's error as `orig`/`__cause__`."""
    try:
        raise sa_exc.DBAPIError.instance("SELECT 1", None, error, psycopg.Error) from error
    except sa_exc.DBAPIError as exc:
        return exc


async def pending_count(redis: aioredis.Redis, stream: str, group: str) -> int:
    summary = await redis.xpending(stream, group)
    return int(summary["pending"])
