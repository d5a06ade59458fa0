"""Retries and recovery of pending entries, with redis-py beside FastStream.

FastStream's group subscriber reads only new entries (`>`): an entry whose handler
failed, or that a killed replica held, stays in the group's pending entries list (PEL)
forever. Each replica therefore scans the PEL (XPENDING with IDLE) and takes entries
over with XCLAIM once they have been idle long enough:

- entries that failed in this very process: after the backoff,
  `backoff_base_ms * 2**(deliveries - 1)` (capped at `backoff_max_ms`);
- any other entry (its owner may still be working on it): after the larger of the
  backoff and `reclaim_min_idle_ms`;
- entries a batch of this very process still holds (a slow batch, a batch waiting out a
  database outage): never; only other replicas may, after `reclaim_min_idle_ms`.

XCLAIM re-checks the idle time atomically, so when several replicas race for an entry
exactly one gets it; the claim also counts a delivery. An entry already delivered
`max_deliveries` times is dead-lettered instead of run again. Deliveries lost to a
database outage in this process are subtracted from Redis's count, and nothing is
claimed while the database is unavailable (a claim would spend a delivery for nothing).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis

from marcus_contracts import STREAM_FIELD
from marcus_messaging import metrics
from marcus_messaging.processing import Entry, EntryProcessor
from marcus_messaging.settings import ConsumerSettings

log = logging.getLogger("marcus.messaging")

_FIELD = STREAM_FIELD.encode()


class Reclaimer:
    def __init__(
        self,
        *,
        redis: aioredis.Redis,
        group: str,
        consumer: str,
        processor: EntryProcessor,
        settings: ConsumerSettings,
    ) -> None:
        self._redis = redis
        self._group = group
        self._consumer = consumer
        self._processor = processor
        self._settings = settings

    def threshold_ms(self, stream: str, entry_id: str, owner: str, deliveries: int) -> int:
        """Idle time after which the entry is taken over (see the module docstring)."""
        backoff = self._settings.retry_delay_ms(deliveries)
        failed_here = self._processor.last_failure(stream, entry_id) is not None
        if owner == self._consumer and failed_here:
            return backoff
        return max(backoff, self._settings.reclaim_min_idle_ms)

    async def reclaim(self, streams: Sequence[str], stop: asyncio.Event | None = None) -> int:
        """One pass over the PEL of each stream; returns how many entries were taken over.
        Setting `stop` ends the pass after the entry in hand."""
        stop = stop or asyncio.Event()
        if not await self._processor.gate.available():
            return 0
        taken = 0
        for stream in streams:
            taken += await self._reclaim_stream(stream, stop)
        return taken

    async def _reclaim_stream(self, stream: str, stop: asyncio.Event) -> int:
        settings = self._settings
        floor = min(settings.backoff_base_ms, settings.reclaim_min_idle_ms)
        start = "-"
        taken = 0
        while True:
            page: list[dict[str, Any]] = await self._redis.xpending_range(
                stream, self._group, min=start, max="+", count=settings.batch, idle=floor
            )
            for pending in page:
                if stop.is_set() or self._processor.gate.down:
                    return taken
                if await self._take_over(stream, pending):
                    taken += 1
            if len(page) < settings.batch:
                return taken
            start = "(" + _text(page[-1]["message_id"])

    async def _take_over(self, stream: str, pending: dict[str, Any]) -> bool:
        entry_id = _text(pending["message_id"])
        if (stream, entry_id) in self._processor.in_flight:
            return False  # our own subscriber is still on it (a slow batch, an outage)
        uncounted = self._processor.uncounted(stream, entry_id)
        deliveries = max(int(pending["times_delivered"]) - uncounted, 0)
        threshold = self.threshold_ms(stream, entry_id, _text(pending["consumer"]), deliveries)
        if int(pending["time_since_delivered"]) < threshold:
            return False
        claimed: list[Any] = await self._redis.xclaim(
            stream, self._group, self._consumer, min_idle_time=threshold, message_ids=[entry_id]
        )
        if not claimed:
            await self._claimed_nothing(stream, entry_id)
            return False
        _, fields = claimed[0]
        if not fields:  # Redis < 7 answers a deleted entry with no fields, still pending
            await self._lost(stream, entry_id)
            return False
        metrics.RECLAIMED.labels(self._group, stream).inc()
        raw = (fields or {}).get(_FIELD)
        if deliveries >= self._settings.max_deliveries:
            error = self._processor.last_failure(stream, entry_id) or (
                f"gave up after {deliveries} deliveries without an ack "
                "(the consumer died or stalled on it)"
            )
            await self._processor.give_up(Entry(stream, entry_id, raw, deliveries), error)
        else:
            log.info("retrying %s %s (delivery %d)", stream, entry_id, deliveries + 1)
            await self._processor.process(Entry(stream, entry_id, raw, deliveries + 1))
        return True

    async def _claimed_nothing(self, stream: str, entry_id: str) -> None:
        """XCLAIM returned nothing: another replica was faster (the entry is still in the
        stream), or the entry is gone from the stream (trimmed or XDELed while pending):
        an event this group never processed, logged and counted (`_lost`). Redis 7 drops
        such an entry from the PEL itself; Redis 6 returns it without fields and keeps it
        pending, so `_lost` acknowledges it: it is reported once."""
        if await self._redis.xrange(stream, min=entry_id, max=entry_id, count=1):
            metrics.RECLAIM_EMPTY.labels(self._group, stream, "taken").inc()
            log.debug("%s %s was claimed by another replica first", stream, entry_id)
            return
        await self._lost(stream, entry_id)

    async def _lost(self, stream: str, entry_id: str) -> None:
        metrics.RECLAIM_EMPTY.labels(self._group, stream, "deleted").inc()
        await self._redis.xack(stream, self._group, entry_id)
        log.error(
            "%s %s was pending for group %s but is no longer in the stream (trimmed or"
            " deleted before it was processed): the event is lost to this group; republish"
            " it from its service's event store (docs/runbook.md, 'Stream retention')",
            stream,
            entry_id,
            self._group,
            extra={"stream": stream, "entry_id": entry_id, "group": self._group},
        )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
