"""Replaying one dead letter into its own group's handler (ADR 0017).

The letter's event runs through the same exactly-once unit as a live delivery
(`EntryProcessor.apply`: the ledger insert and the handler in one transaction), so an
event whose effect already committed is a no-op. Nothing is written to the origin
stream: no other group sees the event again, and the service's Redis user needs no
write access to a stream it does not own (ADR 0012).

- processed (or already processed: `duplicate`; or no handler any more: `unhandled`):
  the letter is deleted from the DLQ;
- the handler failed again: the letter goes back to the end of the DLQ with the new
  error and one more delivery (a new id, `replayed_from` naming the old one);
- the event does not decode: the letter stays as it is;
- PostgreSQL unreachable: nothing changes (`ReplayUnavailable`, a 503).

One replay of a letter at a time across replicas: a PostgreSQL advisory lock on the
letter, tried without waiting (`ReplayInProgress`, a 409).
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from marcus_messaging import metrics
from marcus_messaging.availability import is_connection_error, is_database_unavailable
from marcus_messaging.dlq import ParkedLetter, read_dead_letter, repark
from marcus_messaging.processing import Decoded, Entry, EntryProcessor, Outcome, Rejected

log = logging.getLogger("marcus.messaging")


class ReplayOutcome(enum.Enum):
    PROCESSED = "processed"
    """The handler ran and its effect committed; the letter is gone."""
    DUPLICATE = "duplicate"
    """The ledger already had the event (its effect committed earlier): a no-op."""
    UNHANDLED = "unhandled"
    """The group has no handler for the type any more: acknowledged, as live."""
    FAILED = "failed"
    """Failed again: the letter is (back) in the DLQ with the error."""


@dataclass(frozen=True)
class ReplayResult:
    letter_id: str
    outcome: ReplayOutcome
    event_type: str | None
    event_id: str | None
    error: str | None = None
    dead_letter_id: str | None = None
    """Where the letter is now when it failed again (None: it left the DLQ)."""


class DeadLetterNotFound(LookupError):
    """No such letter in this group's DLQ (never was, replayed or discarded already)."""


class ReplayInProgress(Exception):
    """Another replay of the same letter is running (here or on another replica)."""


class ReplayUnavailable(Exception):
    """PostgreSQL or Redis did not answer: nothing was changed, retry later."""


class DeadLetterReplayer:
    """Replays letters of one group's DLQ through that group's `EntryProcessor`."""

    def __init__(
        self,
        *,
        processor: EntryProcessor,
        redis: aioredis.Redis,
        engine: AsyncEngine,
        dlq_stream: str,
    ) -> None:
        self._processor = processor
        self._redis = redis
        self._engine = engine
        self._dlq_stream = dlq_stream

    async def replay(self, letter_id: str) -> ReplayResult:
        async with self._exclusive(letter_id):
            try:
                letter = await read_dead_letter(self._redis, self._dlq_stream, letter_id)
            except RedisError as exc:
                raise ReplayUnavailable(f"Redis: {exc}") from exc
            if letter is None:
                raise DeadLetterNotFound(letter_id)
            result = await self._replay(letter)
        metrics.REPLAYED.labels(self._processor.group, result.outcome.value).inc()
        log.info(
            "replayed dead letter %s of %s (%s %s): %s%s",
            letter_id,
            self._dlq_stream,
            result.event_type,
            result.event_id,
            result.outcome.value,
            f": {result.error}" if result.error else "",
        )
        return result

    async def _replay(self, letter: ParkedLetter) -> ReplayResult:
        processor = self._processor
        entry = Entry(letter.origin_stream, letter.origin_id, letter.event, letter.deliveries + 1)
        triaged = processor.triage(entry)
        envelope = letter.envelope
        event_type, event_id = envelope.get("type"), envelope.get("id")
        if isinstance(triaged, Rejected):  # stays as it is: a replay cannot fix it
            return ReplayResult(
                letter.id, ReplayOutcome.FAILED, event_type, event_id, triaged.error, letter.id
            )
        if triaged is Outcome.UNHANDLED:
            await self._remove(letter)
            return ReplayResult(letter.id, ReplayOutcome.UNHANDLED, event_type, event_id)
        assert isinstance(triaged, Decoded)
        started = time.perf_counter()
        try:
            fresh = await processor.apply(triaged)
        except Exception as exc:
            if is_database_unavailable(exc) or (
                is_connection_error(exc) and not await processor.gate.probe()
            ):
                raise ReplayUnavailable(f"PostgreSQL: {type(exc).__name__}") from exc
            error = f"{type(exc).__name__}: {exc}"
            metrics.FAILED.labels(processor.group, *triaged.labels).inc()
            try:
                moved = await repark(
                    self._redis, self._dlq_stream, letter, error=error, consumer=processor.consumer
                )
            except RedisError as redis_exc:
                raise ReplayUnavailable(f"Redis: {redis_exc}") from redis_exc
            return ReplayResult(letter.id, ReplayOutcome.FAILED, event_type, event_id, error, moved)
        processor.settled([(triaged, fresh)], started)
        await self._remove(letter)
        outcome = ReplayOutcome.PROCESSED if fresh else ReplayOutcome.DUPLICATE
        return ReplayResult(letter.id, outcome, event_type, event_id)

    async def _remove(self, letter: ParkedLetter) -> None:
        try:
            await self._redis.xdel(self._dlq_stream, letter.id)
        except RedisError as exc:
            # Done, but still listed: replaying it again is a ledger duplicate.
            raise ReplayUnavailable(
                f"the event was handled but Redis did not delete the letter ({exc}); "
                "replaying it again is a no-op"
            ) from exc

    @asynccontextmanager
    async def _exclusive(self, letter_id: str) -> AsyncIterator[None]:
        """A session-level advisory lock on (DLQ, letter) for the whole replay, tried
        without waiting, on a connection of its own (released if the process dies)."""
        key = f"marcus.dead-letter-replay:{self._dlq_stream}:{letter_id}"
        try:
            conn = await self._engine.connect()
        except Exception as exc:
            raise ReplayUnavailable(f"PostgreSQL: {type(exc).__name__}") from exc
        try:
            try:
                locked = await conn.scalar(
                    text("SELECT pg_try_advisory_lock(hashtextextended(:key, 0))"), {"key": key}
                )
                await conn.commit()
            except Exception as exc:
                raise ReplayUnavailable(f"PostgreSQL: {type(exc).__name__}") from exc
            if not locked:
                raise ReplayInProgress(letter_id)
            try:
                yield
            finally:
                try:
                    await conn.execute(
                        text("SELECT pg_advisory_unlock(hashtextextended(:key, 0))"),
                        {"key": key},
                    )
                    await conn.commit()
                except Exception as exc:  # never back to the pool holding the lock
                    log.warning("could not release the replay lock of %s: %s", letter_id, exc)
                    await conn.invalidate()
        finally:
            await conn.close()
