"""Handling one stream entry: decode, run the handler in a ledger transaction, ack.

Both paths that deliver entries share this: new entries read by the FastStream
subscriber, and pending entries claimed by the reclaimer. The outcome decides what
happens in Redis:

- committed or duplicate (id already in the ledger), or no handler for the type: XACK;
- undecodable (bad JSON, not an envelope, unknown type/version): dead-lettered at once,
  since no retry can fix it;
- the handler (or its transaction) raised: left pending for a retry with backoff, or
  dead-lettered when this was delivery `max_deliveries`.
"""

from __future__ import annotations

import enum
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marcus_contracts import Envelope, Event, EventRegistry
from marcus_messaging import metrics
from marcus_messaging.dlq import DeadLetter, dead_letter
from marcus_messaging.ledger import Ledger, SequenceGuard
from marcus_messaging.settings import ConsumerSettings

log = logging.getLogger("marcus.messaging")

UNDECODABLE = "<undecodable>"
MAX_REMEMBERED_FAILURES = 10_000


@dataclass(frozen=True)
class Entry:
    """One stream entry as delivered: `event` is the raw `event` field (None if absent)."""

    stream: str
    entry_id: str
    event: bytes | None
    deliveries: int


@dataclass(frozen=True)
class HandlerContext:
    """What a handler gets. `session` is inside the open transaction that also records the
    event id in the ledger: write the effect through it and never commit it yourself."""

    event: Event
    envelope: Envelope
    session: AsyncSession
    guard: SequenceGuard
    stream: str
    entry_id: str
    deliveries: int

    async def advance(self, *, scope: str = "") -> bool:
        """Move this event's subject to its sequence; False means the event is stale."""
        return await self.guard.advance(
            self.session, self.envelope.subject, self.envelope.sequence, scope=scope
        )


Handler = Callable[[HandlerContext], Awaitable[None]]


class Outcome(enum.Enum):
    CONSUMED = "consumed"
    DUPLICATE = "duplicate"
    UNHANDLED = "unhandled"
    FAILED = "failed"
    DEAD_LETTERED = "dead_lettered"


class EntryProcessor:
    def __init__(
        self,
        *,
        group: str,
        consumer: str,
        redis: aioredis.Redis,
        sessions: async_sessionmaker[AsyncSession],
        ledger: Ledger,
        guard: SequenceGuard,
        handlers: Mapping[str, Handler],
        registry: EventRegistry,
        settings: ConsumerSettings,
        dlq_stream: str,
    ) -> None:
        self.group = group
        self.consumer = consumer
        self._redis = redis
        self._sessions = sessions
        self._ledger = ledger
        self._guard = guard
        self._handlers = handlers
        self._registry = registry
        self._settings = settings
        self._dlq_stream = dlq_stream
        # Entries whose handler failed here: retried after the backoff alone, without
        # waiting for `reclaim_min_idle_ms` (we know they are not in flight).
        self._failures: OrderedDict[tuple[str, str], str] = OrderedDict()

    def last_failure(self, stream: str, entry_id: str) -> str | None:
        """The error of this entry's last failed delivery in this process, if any."""
        return self._failures.get((stream, entry_id))

    async def process(self, entry: Entry) -> Outcome:
        try:
            if entry.event is None:
                raise ValueError("entry has no 'event' field")
            envelope = Envelope.from_json(entry.event)
        except ValueError as exc:
            return await self.give_up(entry, f"undecodable envelope: {exc}", UNDECODABLE)

        labels = (self.group, entry.stream, envelope.type)
        handler = self._handlers.get(envelope.type)
        if handler is None:
            metrics.UNHANDLED.labels(*labels).inc()
            await self._ack(entry)
            return Outcome.UNHANDLED

        try:
            event = self._registry.decode(envelope)
        except (LookupError, ValueError) as exc:
            return await self.give_up(entry, f"undecodable data: {exc}", envelope.type)

        started = time.perf_counter()
        try:
            async with self._sessions.begin() as session:
                fresh = await self._ledger.record(
                    session,
                    envelope.id,
                    event_type=envelope.type,
                    stream=entry.stream,
                    entry_id=entry.entry_id,
                )
                if fresh:
                    await handler(
                        HandlerContext(
                            event=event,
                            envelope=envelope,
                            session=session,
                            guard=self._guard,
                            stream=entry.stream,
                            entry_id=entry.entry_id,
                            deliveries=entry.deliveries,
                        )
                    )
        except Exception as exc:
            return await self._failed(entry, envelope, exc)

        if fresh:
            metrics.HANDLER_SECONDS.labels(*labels).observe(time.perf_counter() - started)
            metrics.CONSUMED.labels(*labels).inc()
        else:
            metrics.DUPLICATES.labels(*labels).inc()
            log.info("skipped duplicate %s (%s) from %s", envelope.id, envelope.type, entry.stream)
        self._failures.pop((entry.stream, entry.entry_id), None)
        await self._ack(entry)
        return Outcome.CONSUMED if fresh else Outcome.DUPLICATE

    async def _failed(self, entry: Entry, envelope: Envelope, exc: Exception) -> Outcome:
        metrics.FAILED.labels(self.group, entry.stream, envelope.type).inc()
        error = f"{type(exc).__name__}: {exc}"
        log.warning(
            "handler for %s (%s) failed on delivery %d/%d: %s",
            envelope.id,
            envelope.type,
            entry.deliveries,
            self._settings.max_deliveries,
            error,
            exc_info=exc,
        )
        if entry.deliveries >= self._settings.max_deliveries:
            return await self.give_up(entry, error, envelope.type)
        self._remember_failure(entry, error)
        return Outcome.FAILED

    async def give_up(self, entry: Entry, error: str, event_type: str | None = None) -> Outcome:
        """Dead-letter the entry (it stays pending if Redis refuses, and is retried)."""
        if event_type is None:
            event_type = _peek_type(entry.event)
        letter = DeadLetter(
            stream=entry.stream,
            entry_id=entry.entry_id,
            event=entry.event,
            error=error,
            deliveries=entry.deliveries,
        )
        try:
            await dead_letter(
                self._redis,
                dlq_stream=self._dlq_stream,
                group=self.group,
                consumer=self.consumer,
                letter=letter,
            )
        except RedisError as exc:
            log.warning("could not dead-letter %s %s: %s", entry.stream, entry.entry_id, exc)
            return Outcome.FAILED
        metrics.DEAD_LETTERED.labels(self.group, entry.stream, event_type).inc()
        self._failures.pop((entry.stream, entry.entry_id), None)
        return Outcome.DEAD_LETTERED

    async def _ack(self, entry: Entry) -> None:
        """A lost ack only costs a redelivery, which the ledger turns into a skip."""
        try:
            await self._redis.xack(entry.stream, self.group, entry.entry_id)
        except RedisError as exc:
            log.warning("could not ack %s %s: %s", entry.stream, entry.entry_id, exc)

    def _remember_failure(self, entry: Entry, error: str) -> None:
        key = (entry.stream, entry.entry_id)
        self._failures[key] = error
        self._failures.move_to_end(key)
        while len(self._failures) > MAX_REMEMBERED_FAILURES:
            self._failures.popitem(last=False)


def _peek_type(raw: bytes | None) -> str:
    """The event type for metric labels, if the envelope decodes at all."""
    if raw is None:
        return UNDECODABLE
    try:
        return Envelope.from_json(raw).type
    except ValueError:
        return UNDECODABLE
