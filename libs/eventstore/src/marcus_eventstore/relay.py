"""The outbox relay: publishes recorded events to the service's Redis stream, in order.

One relay per service is active at a time: it holds a PostgreSQL advisory lock on its own
connection, so replicas stand by and take over when the holder's connection dies. The
same connection LISTENs for the NOTIFY that appends send on commit, with polling as a
fallback. Each batch is XADDed in one pipelined round trip, then removed from the outbox;
if Redis is down the events simply stay in the outbox and go out when it returns.

A crash between XADD and the outbox DELETE publishes that batch again: delivery is
at-least-once, and consumers drop duplicates by event id.

With tracing on, each published event gets a PRODUCER span ("publish events.<service>")
in the trace of the command that recorded it (its envelope's traceparent), so a trace
shows the time an event waited in the outbox and its XADD.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from dataclasses import dataclass

import psycopg
import redis.asyncio as aioredis
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from psycopg import sql
from redis.exceptions import RedisError

from marcus_contracts import STREAM_FIELD
from marcus_eventstore.metrics import (
    EVENTS_PUBLISHED,
    OUTBOX_BACKLOG,
    OUTBOX_OLDEST_AGE,
    PUBLISH_FAILURES,
    RELAY_LEADER,
    STREAM_TRIMMED,
)
from marcus_eventstore.trimming import trim_if_longer
from marcus_telemetry import context_from_traceparent, tracer, tracing_active

log = logging.getLogger("marcus.relay")


@dataclass(frozen=True)
class RelaySettings:
    dsn: str
    """libpq connection string or URL (no SQLAlchemy driver suffix)."""
    schema: str
    stream: str
    batch_size: int = 500
    poll_interval: float = 1.0
    maxlen: int = 0
    """0 keeps the whole stream (replays read it from 0). Above 0: once the stream holds
    more entries, those every consumer group has read and acknowledged are trimmed
    (`marcus_eventstore.trimming`: MINID below every group's pending and undelivered
    entries, never an approximate MAXLEN that could drop them)."""
    trim_interval: float = 5.0
    """Seconds between two trims of the stream (when `maxlen` is above 0)."""
    standby_interval: float = 2.0
    backlog_interval: float = 1.0
    """Seconds between two refreshes of the backlog gauges (a count over the outbox):
    at most one per interval, however many batches a busy relay publishes."""
    max_backoff: float = 5.0


def advisory_key(schema: str) -> int:
    """A stable signed 64-bit lock id per schema."""
    digest = hashlib.blake2b(f"marcus-relay:{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class OutboxRelay:
    def __init__(self, settings: RelaySettings, redis: aioredis.Redis) -> None:
        self.settings = settings
        self.redis = redis
        self.is_leader = False
        self._next_trim = 0.0
        self._next_backlog = 0.0
        self._select = sql.SQL(
            "SELECT o.position, e.envelope::text FROM {schema}.outbox o "
            "JOIN {schema}.events e ON e.position = o.position "
            "ORDER BY o.position LIMIT %s"
        ).format(schema=sql.Identifier(settings.schema))
        self._select_traced = sql.SQL(
            "SELECT o.position, e.envelope::text, e.id::text, e.type, e.subject, "
            "e.envelope->>'traceparent' FROM {schema}.outbox o "
            "JOIN {schema}.events e ON e.position = o.position "
            "ORDER BY o.position LIMIT %s"
        ).format(schema=sql.Identifier(settings.schema))
        self._delete = sql.SQL("DELETE FROM {schema}.outbox WHERE position = ANY(%s)").format(
            schema=sql.Identifier(settings.schema)
        )
        self._backlog = sql.SQL(
            "SELECT count(*), extract(epoch FROM now() - min(e.time)) FROM {schema}.outbox o "
            "JOIN {schema}.events e ON e.position = o.position"
        ).format(schema=sql.Identifier(settings.schema))

    async def run(self, stop: asyncio.Event) -> None:
        """Lead or stand by until `stop` is set; survives database and Redis outages."""
        backoff = 0.2
        while not stop.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.settings.dsn, autocommit=True
                ) as conn:
                    backoff = 0.2
                    if await self._acquire(conn, stop):
                        await self._lead(conn, stop)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                log.warning("relay lost PostgreSQL (%s); retrying in %.1fs", exc, backoff)
            finally:
                self._set_leader(False)
            await _wait(stop, backoff)
            backoff = min(backoff * 2, self.settings.max_backoff)

    async def _acquire(self, conn: psycopg.AsyncConnection, stop: asyncio.Event) -> bool:
        key = advisory_key(self.settings.schema)
        while not stop.is_set():
            row = await (await conn.execute("SELECT pg_try_advisory_lock(%s)", [key])).fetchone()
            if row and row[0]:
                self._set_leader(True)
                log.info("relay for %s is active", self.settings.schema)
                return True
            await _wait(stop, self.settings.standby_interval)
        return False

    async def _lead(self, conn: psycopg.AsyncConnection, stop: asyncio.Event) -> None:
        channel = sql.Identifier(f"{self.settings.schema}_outbox")
        await conn.execute(sql.SQL("LISTEN {}").format(channel))
        backoff = 0.1
        while not stop.is_set():
            try:
                while await self.publish_batch(conn) == self.settings.batch_size:
                    if stop.is_set():
                        return
                backoff = 0.1
            except RedisError as exc:
                PUBLISH_FAILURES.labels(self.settings.schema).inc()
                log.warning("relay cannot reach Redis (%s); retrying in %.1fs", exc, backoff)
                await _wait(stop, backoff)
                backoff = min(backoff * 2, self.settings.max_backoff)
                continue
            await self._maybe_update_backlog(conn)
            async for _ in conn.notifies(timeout=self.settings.poll_interval, stop_after=1):
                pass

    async def publish_batch(self, conn: psycopg.AsyncConnection) -> int:
        """Publish up to one batch of the oldest unpublished events; returns how many."""
        traced = tracing_active()
        select = self._select_traced if traced else self._select
        rows = await (await conn.execute(select, [self.settings.batch_size])).fetchall()
        if not rows:
            return 0
        spans = [self._publish_span(row) for row in rows] if traced else []
        pipe = self.redis.pipeline(transaction=False)
        for row in rows:
            pipe.xadd(self.settings.stream, {STREAM_FIELD: row[1]})
        try:
            entry_ids = await pipe.execute()
        except BaseException as exc:
            for span in spans:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                span.end()
            raise
        for span, entry_id in zip(spans, entry_ids if traced else [], strict=True):
            span.set_attribute("messaging.redis.entry_id", _text(entry_id))
            span.end()
        await conn.execute(self._delete, [[row[0] for row in rows]])
        EVENTS_PUBLISHED.labels(self.settings.schema).inc(len(rows))
        await self._maybe_trim()
        return len(rows)

    async def _maybe_trim(self) -> None:
        """Trim consumed entries now and then (see `RelaySettings.maxlen`)."""
        if self.settings.maxlen <= 0:
            return
        now = time.monotonic()
        if now < self._next_trim:
            return
        self._next_trim = now + self.settings.trim_interval
        removed = await trim_if_longer(self.redis, self.settings.stream, self.settings.maxlen)
        if removed:
            STREAM_TRIMMED.labels(self.settings.schema).inc(removed)
            log.debug("trimmed %d consumed entries of %s", removed, self.settings.stream)

    def _publish_span(self, row: tuple) -> Span:
        """A PRODUCER span for one event, child of the span that recorded it."""
        position, _, event_id, event_type, subject, traceparent = row
        return tracer("marcus.relay").start_span(
            f"publish {self.settings.stream}",
            context=context_from_traceparent(traceparent),  # none: a root span
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "redis",
                "messaging.operation.type": "send",
                "messaging.destination.name": self.settings.stream,
                "messaging.message.id": event_id,
                "cloudevents.event_id": event_id,
                "cloudevents.event_type": event_type,
                "cloudevents.event_subject": subject,
                "marcus.outbox.position": position,
            },
        )

    async def _maybe_update_backlog(self, conn: psycopg.AsyncConnection) -> None:
        now = time.monotonic()
        if now < self._next_backlog:
            return
        self._next_backlog = now + self.settings.backlog_interval
        await self._update_backlog(conn)

    async def _update_backlog(self, conn: psycopg.AsyncConnection) -> None:
        row = await (await conn.execute(self._backlog)).fetchone()
        if row:
            OUTBOX_BACKLOG.labels(self.settings.schema).set(row[0])
            OUTBOX_OLDEST_AGE.labels(self.settings.schema).set(float(row[1] or 0))

    def _set_leader(self, leader: bool) -> None:
        self.is_leader = leader
        RELAY_LEADER.labels(self.settings.schema).set(1 if leader else 0)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    """Sleep that ends early when asked to stop."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
