"""Handling stream entries: decode, run the handler in a ledger transaction, ack.

`EntryProcessor` holds what both delivery paths share: decoding (the triage before any
transaction), the outcome of a failure, dead-lettering, acks and metrics. It also runs
ONE entry in its own transaction (`process`), which is the path of the reclaimer and of
a batch that had to be redone entry by entry; new entries arrive in batches
(`marcus_messaging.batch`). The outcome decides what happens in Redis:

- committed or duplicate (id already in the ledger), or no handler for the type: XACK;
- undecodable (bad JSON, not an envelope, unknown type/version): dead-lettered at once,
  since no retry can fix it;
- the handler (or its transaction) raised: left pending for a retry with backoff, or
  dead-lettered when this was delivery `max_deliveries`;
- PostgreSQL was unreachable: left pending, the delivery not counted (`availability`).
"""

from __future__ import annotations

import enum
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import Update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marcus_contracts import Envelope, Event, EventRegistry
from marcus_messaging import metrics
from marcus_messaging.availability import (
    DatabaseGate,
    is_connection_error,
    is_database_unavailable,
)
from marcus_messaging.dlq import DeadLetter, dead_letter
from marcus_messaging.failures import FailureBook
from marcus_messaging.ledger import Ledger, SequenceGuard
from marcus_messaging.settings import ConsumerSettings
from marcus_messaging.tracing import run_handler
from marcus_messaging.transaction import TransactionScope
from marcus_telemetry import tracing_active

log = logging.getLogger("marcus.messaging")

UNDECODABLE = "<undecodable>"


@dataclass(slots=True)
class Entry:
    """One stream entry as delivered: `event` is the raw `event` field (None if absent).
    `deliveries` counts deliveries that reached the handler, this one included: Redis's
    count minus the ones lost to a database outage.

    Read-only by convention rather than `frozen`: this and `Decoded` and `HandlerContext`
    are built for every event, and a frozen dataclass's `__init__` costs about four times
    as much (each field goes through `object.__setattr__`)."""

    stream: str
    entry_id: str
    event: bytes | None
    deliveries: int


@dataclass(slots=True)
class HandlerContext:
    """What a handler gets. `session` is inside the open transaction that also records the
    event id in the ledger: write the effect through it and never commit it yourself.
    In a batch, the transaction holds the batch's other events too; `transaction` is
    what the handlers of that transaction share (`TransactionScope.before_commit`)."""

    event: Event
    envelope: Envelope
    session: AsyncSession
    guard: SequenceGuard
    stream: str
    entry_id: str
    deliveries: int
    transaction: TransactionScope = field(default_factory=TransactionScope)

    async def advance(self, *, scope: str = "") -> bool:
        """Move this event's subject to its sequence; False means the event is stale."""
        return await self.guard.advance(
            self.session, self.envelope.subject, self.envelope.sequence, scope=scope
        )

    async def advance_and(self, write: Update, *, scope: str = "") -> None:
        """`write` only if this event's subject advances (`advance`), in one statement
        instead of two (`SequenceGuard.guarded`): a stale event changes nothing."""
        await self.session.execute(
            self.guard.guarded(write, self.envelope.subject, self.envelope.sequence, scope=scope)
        )


Handler = Callable[[HandlerContext], Awaitable[None]]


class Outcome(enum.Enum):
    CONSUMED = "consumed"
    DUPLICATE = "duplicate"
    UNHANDLED = "unhandled"
    FAILED = "failed"
    DEAD_LETTERED = "dead_lettered"
    DEFERRED = "deferred"
    """PostgreSQL was unreachable: pending, and the delivery does not count."""


@dataclass(slots=True)
class Decoded:
    """An entry that passed triage: it decodes and has a handler."""

    entry: Entry
    envelope: Envelope
    event: Event
    handler: Handler

    @property
    def key(self) -> tuple[str, str]:
        return (self.entry.stream, self.entry.entry_id)

    @property
    def labels(self) -> tuple[str, str]:
        return (self.entry.stream, self.envelope.type)


@dataclass(slots=True)
class Rejected:
    """An entry no retry can fix (undecodable, unknown type or version): why, and its
    type for metric labels."""

    error: str
    event_type: str


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
        gate: DatabaseGate,
    ) -> None:
        self.group = group
        self.consumer = consumer
        self.sessions = sessions
        self.ledger = ledger
        self.gate = gate
        self.failures = FailureBook()
        self.in_flight: set[tuple[str, str]] = set()
        """Entries a batch of this process holds right now (even through a long outage):
        the reclaimer leaves them alone."""
        self._redis = redis
        self._guard = guard
        self._handlers = handlers
        self._registry = registry
        self._reader = registry.reader(handlers)
        """Validates the handled types' entries in one pass (envelope and data)."""
        self._settings = settings
        self._dlq_stream = dlq_stream

    def last_failure(self, stream: str, entry_id: str) -> str | None:
        """The error of this entry's last failed delivery in this process, if any."""
        return self.failures.error((stream, entry_id))

    def uncounted(self, stream: str, entry_id: str) -> int:
        """Redis deliveries of this entry lost to a database outage (in this process)."""
        return self.failures.uncounted((stream, entry_id))

    async def decode(self, entry: Entry) -> Decoded | Outcome:
        """Triage before any transaction: Decoded, or UNHANDLED (the caller acks it), or
        DEAD_LETTERED / FAILED for what no retry can fix (FAILED: Redis refused the DLQ)."""
        triaged = self.triage(entry)
        if isinstance(triaged, Rejected):
            return await self.give_up(entry, triaged.error, triaged.event_type)
        return triaged

    def triage(self, entry: Entry) -> Decoded | Rejected | Outcome:
        """`decode` without its side effect: what no retry can fix comes back as
        `Rejected` instead of being dead-lettered (a dead letter's replay reports it)."""
        try:
            if entry.event is None:
                raise ValueError("entry has no 'event' field")
            envelope = self._reader.read(entry.event)
        except ValueError as exc:
            return Rejected(f"undecodable envelope: {exc}", UNDECODABLE)

        handler = self._handlers.get(envelope.type)
        if handler is None:
            metrics.UNHANDLED.labels(self.group, entry.stream, envelope.type).inc()
            return Outcome.UNHANDLED

        try:
            event = self._registry.decode(envelope)
        except (LookupError, ValueError) as exc:
            return Rejected(f"undecodable data: {exc}", envelope.type)
        return Decoded(entry, envelope, event, handler)

    def context(
        self, decoded: Decoded, session: AsyncSession, transaction: TransactionScope
    ) -> HandlerContext:
        entry = decoded.entry
        return HandlerContext(
            event=decoded.event,
            envelope=decoded.envelope,
            session=session,
            guard=self._guard,
            stream=entry.stream,
            entry_id=entry.entry_id,
            deliveries=entry.deliveries,
            transaction=transaction,
        )

    async def process(self, entry: Entry) -> Outcome:
        """One entry, one transaction: the reclaimer's path."""
        decoded = await self.decode(entry)
        if not isinstance(decoded, Decoded):
            if decoded is Outcome.UNHANDLED:
                await self.ack(entry.stream, [entry.entry_id])
            return decoded
        outcome = await self.run(decoded)
        if outcome is Outcome.DEFERRED:
            # Retried by the reclaimer once the database answers, after the short backoff.
            self.failures.unavailable(decoded.key, "PostgreSQL unavailable")
        return outcome

    async def run(self, decoded: Decoded) -> Outcome:
        """Ledger + handler in one transaction, then ack. DEFERRED means the database
        was unreachable (the gate is now closed); the caller decides about the retry."""
        entry = decoded.entry
        started = time.perf_counter()
        try:
            fresh = await self.apply(decoded)
        except Exception as exc:
            if await self.is_unavailable(exc):
                self.gate.mark_down(exc)
                return Outcome.DEFERRED
            return await self.count_failure(decoded, exc)
        self.settled([(decoded, fresh)], started)
        await self.ack(entry.stream, [entry.entry_id])
        return Outcome.CONSUMED if fresh else Outcome.DUPLICATE

    async def apply(self, decoded: Decoded) -> bool:
        """The exactly-once unit of one entry: its id into the ledger and, if it was not
        there (True), the handler, in one transaction. Raises what the handler or the
        transaction raised (rolled back). Shared by `run` and a dead letter's replay."""
        entry = decoded.entry
        async with self.sessions.begin() as session:
            fresh = await self.ledger.record(
                session,
                decoded.envelope.id,
                event_type=decoded.envelope.type,
                stream=entry.stream,
                entry_id=entry.entry_id,
            )
            if fresh:
                scope = TransactionScope(events=(decoded.event,))
                context = self.context(decoded, session, scope)
                await run_handler(decoded.handler, context, self.group, tracing_active())
                await scope.finish()
        return fresh

    async def is_unavailable(self, exc: BaseException) -> bool:
        """A database outage, not the event's fault? Connection errors that may come from
        elsewhere (a handler's HTTP call) count as an outage only if a probe fails too."""
        if is_database_unavailable(exc):
            return True
        return is_connection_error(exc) and not await self.gate.probe()

    def settled(self, results: Iterable[tuple[Decoded, bool]], started: float) -> None:
        """Metrics of committed entries (fresh or duplicate), and forget their failures.
        Per batch, not per entry: one `labels()` lookup, one counter increment and one
        duration (the transaction's: every event in it waited for the same commit) for
        each (stream, type), and no log line unless there were duplicates."""
        elapsed = time.perf_counter() - started
        consumed: Counter[tuple[str, str]] = Counter()
        duplicates: list[Decoded] = []
        for decoded, fresh in results:
            if fresh:
                consumed[decoded.labels] += 1
            else:
                duplicates.append(decoded)
            if self.failures:
                self.failures.forget(decoded.key)
        for labels, count in consumed.items():
            metrics.CONSUMED.labels(self.group, *labels).inc(count)
            metrics.HANDLER_SECONDS.labels(self.group, *labels).observe(elapsed)
        if duplicates:
            for decoded in duplicates:
                metrics.DUPLICATES.labels(self.group, *decoded.labels).inc()
            first = duplicates[0]
            log.info(
                "skipped %d duplicate event(s) from %s, the first %s (%s)",
                len(duplicates),
                first.entry.stream,
                first.envelope.id,
                first.envelope.type,
            )

    async def count_failure(self, decoded: Decoded, exc: BaseException) -> Outcome:
        """A counted failure: pending for a retry, or dead-lettered on the last delivery."""
        entry = decoded.entry
        metrics.FAILED.labels(self.group, *decoded.labels).inc()
        error = f"{type(exc).__name__}: {exc}"
        log.warning(
            "handler for %s (%s) failed on delivery %d/%d: %s",
            decoded.envelope.id,
            decoded.envelope.type,
            entry.deliveries,
            self._settings.max_deliveries,
            error,
            exc_info=exc,
        )
        if entry.deliveries >= self._settings.max_deliveries:
            return await self.give_up(entry, error, decoded.envelope.type)
        self.failures.failed(decoded.key, error)
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
        self.failures.forget((entry.stream, entry.entry_id))
        return Outcome.DEAD_LETTERED

    async def ack(self, stream: str, entry_ids: Sequence[str]) -> None:
        """One XACK for many ids. A lost ack only costs a redelivery, which the ledger
        turns into a skip."""
        if not entry_ids:
            return
        try:
            await self._redis.xack(stream, self.group, *entry_ids)
        except RedisError as exc:
            log.warning("could not ack %d entries of %s: %s", len(entry_ids), stream, exc)


def _peek_type(raw: bytes | None) -> str:
    """The event type for metric labels, if the envelope decodes at all."""
    if raw is None:
        return UNDECODABLE
    try:
        return Envelope.from_json(raw).type
    except ValueError:
        return UNDECODABLE
