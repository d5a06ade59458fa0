"""The live sync: drain the sync queue in batches into every target collection.

Each replica runs one loop. A batch is: claim up to `sync_batch` queue entries (FOR
UPDATE SKIP LOCKED, so replicas never take the same entries), read the products'
current states, write them to each target collection (one embedding call per
collection), delete the entries, commit. A replica killed mid-batch rolls back: its
entries are unlocked and the next batch of any replica takes them again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from opentelemetry.trace import Link
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from indexer import metrics
from indexer.storage import collections as collections_store
from indexer.storage import documents as documents_store
from indexer.writer import IndexWriter
from marcus_telemetry import context_from_traceparent, span_context_of, tracer, tracing_active

log = logging.getLogger("marcus.indexer.sync")


class Syncer:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        writer: IndexWriter,
        *,
        batch: int = 64,
        poll_interval: float = 0.05,
    ) -> None:
        self.sessions = sessions
        self.writer = writer
        self.batch = batch
        self.poll_interval = poll_interval

    async def sync_once(self) -> int:
        """One batch; returns how many queue entries it settled (0: nothing to do)."""
        started = time.perf_counter()
        async with self.sessions.begin() as session:
            claimed = await documents_store.claim_traced(session, self.batch)
            if not claimed:
                return 0
            targets = await collections_store.lock_targets(session)
            if not targets:  # no collection yet: keep the entries for when one exists
                return 0
            with sync_span([traceparent for _, _, traceparent in claimed]):
                states = await documents_store.load_many(session, {pid for _, pid, _ in claimed})
                for target in targets:
                    result = await self.writer.write(session, target, states)
                    metrics.SYNCED.labels(target.status, "upsert").inc(result.upserted)
                    metrics.SYNCED.labels(target.status, "delete").inc(result.deleted)
                    if target.status == collections_store.ACTIVE:
                        collection = await self.writer.collection(target.name)
                        metrics.DOCUMENTS.set(await collection.count())
            await documents_store.release(session, [entry for entry, _, _ in claimed])
        metrics.SYNC_BATCH_SECONDS.observe(time.perf_counter() - started)
        return len(claimed)

    async def run(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                settled = await self.sync_once()
                failures = 0
            except Exception as exc:
                failures += 1
                metrics.SYNC_FAILURES.inc()
                delay = min(0.5 * 2 ** (failures - 1), 15.0)
                log.warning("sync batch failed (%r); retrying in %.1fs", exc, delay)
                self._forget_missing(exc)
                await _sleep(stop, delay)
                continue
            if settled < self.batch:
                await _sleep(stop, self.poll_interval)

    def _forget_missing(self, exc: Exception) -> None:
        from marcus_search.chroma import NotFoundError

        if isinstance(exc, NotFoundError):
            self.writer._collections.clear()


def sync_span(traceparents: list[str | None]) -> contextlib.AbstractContextManager[object]:
    """With tracing on, the batch's span: a child of the first queued event's consumer
    span (so one product save is one trace down to the Chroma calls, which httpx
    instrumentation records under it), linked to the other entries' traces."""
    if not tracing_active():
        return contextlib.nullcontext()
    known = list(dict.fromkeys(tp for tp in traceparents if tp))
    links = [Link(ctx) for ctx in map(span_context_of, known[1:]) if ctx is not None]
    return tracer("marcus.indexer").start_as_current_span(
        "indexer sync",
        context=context_from_traceparent(known[0]) if known else None,
        links=links,
        attributes={"indexer.sync.entries": len(traceparents)},
    )


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
