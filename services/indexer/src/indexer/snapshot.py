"""A rebuild's starting point from a catalog snapshot instead of the stream's history.

`events.catalog` is a transport with retention (its history lives in the catalog's event
store), so a rebuild cannot rely on its first entry. The indexer appends
`indexer.snapshot.requested` to its event store (the relay publishes it on
`events.indexer`); the catalog answers on the request's own stream with one
`catalog.product.snapshotted` per product and a `catalog.snapshot.completed` marker
(`catalog.snapshots` says why the marker's position is consistent). This module waits
for the first complete attempt, folds its products with the same `domain.apply` as the
live path, and hands the rebuild a `Fold` positioned at the marker, from which the
rebuild catches up on `events.catalog`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from indexer.domain import ProductState, apply
from indexer.replay import Fold
from indexer.storage.tables import event_store
from marcus_contracts import STREAM_FIELD, Envelope, StreamNames, registry
from marcus_contracts.events.catalog import ProductSnapshotted, SnapshotCompleted
from marcus_contracts.events.indexer import SnapshotRequested
from marcus_eventstore import EventStore

log = logging.getLogger("marcus.indexer.snapshot")

_FIELD = STREAM_FIELD.encode()


class SnapshotTimeout(TimeoutError):
    """The catalog did not answer in time: the run fails and is tried again."""


@dataclass
class _Attempt:
    fold: Fold = field(default_factory=Fold)
    marker: SnapshotCompleted | None = None


@dataclass
class SnapshotReader:
    """Reads one request's snapshot stream as it is written, folding each attempt apart."""

    redis: aioredis.Redis
    stream: str
    page: int = 1000
    attempts: dict[UUID, _Attempt] = field(default_factory=dict)
    last_id: str = "0"
    undecodable: int = 0

    def complete(self) -> tuple[Fold, SnapshotCompleted] | None:
        """The first attempt whose marker arrived with all of its products, if any."""
        for attempt in self.attempts.values():
            marker = attempt.marker
            if marker is not None and attempt.fold.events == marker.products:
                return attempt.fold, marker
        return None

    async def read(self, block_ms: int) -> None:
        """Fold what arrived after `last_id` (waiting up to `block_ms` for it)."""
        reply: Any = await self.redis.xread(
            {self.stream: self.last_id}, count=self.page, block=block_ms
        )
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                self.last_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                self._add(fields)

    def _add(self, fields: dict[bytes, bytes]) -> None:
        try:
            raw = fields.get(_FIELD)
            if raw is None:
                raise ValueError("no event field")
            envelope = Envelope.from_json(raw)
            event = registry.decode(envelope)
        except Exception as exc:
            self.undecodable += 1
            log.warning("snapshot %s: skipping entry %s: %s", self.stream, self.last_id, exc)
            return
        if isinstance(event, SnapshotCompleted):
            self.attempts.setdefault(event.attempt, _Attempt()).marker = event
        elif isinstance(event, ProductSnapshotted):
            fold = self.attempts.setdefault(event.attempt, _Attempt()).fold
            fold.events += 1
            state = fold.states.get(event.product_id) or ProductState(event.product_id)
            new = apply(state, envelope, event)
            if new is not None:
                fold.states[event.product_id] = new


async def request_snapshot(sessions: async_sessionmaker[AsyncSession], run_id: UUID) -> UUID:
    """Append the request to the indexer's event store (the relay publishes it)."""
    request_id = uuid4()
    event = SnapshotRequested(request_id=request_id, run_id=run_id, requested_at=datetime.now(UTC))
    async with sessions.begin() as session:
        await EventStore(event_store).append(
            session, [registry.envelope(event, subject=str(request_id), sequence=1)]
        )
    return request_id


async def snapshot_fold(
    sessions: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    names: StreamNames,
    run_id: UUID,
    *,
    timeout_s: float,
    page: int = 1000,
) -> Fold:
    """Ask the catalog for a snapshot and fold it: the products as of the marker, and
    `last_id` at the marker's `events.catalog` position (the catch-up starts after it)."""
    started = time.monotonic()
    request_id = await request_snapshot(sessions, run_id)
    reader = SnapshotReader(redis, names.snapshot("catalog", request_id), page=page)
    while (done := reader.complete()) is None:
        left = timeout_s - (time.monotonic() - started)
        if left <= 0:
            raise SnapshotTimeout(
                f"the catalog did not answer snapshot request {request_id} within "
                f"{timeout_s:g}s (is a catalog replica consuming events.indexer?)"
            )
        await reader.read(block_ms=max(1, int(min(left, 1.0) * 1000)))
        await asyncio.sleep(0)
    fold, marker = done
    fold.last_id = marker.position
    log.info(
        "snapshot %s: %d products consistent with events.catalog at %s, in %.2fs",
        request_id,
        marker.products,
        marker.position,
        time.monotonic() - started,
    )
    return fold
