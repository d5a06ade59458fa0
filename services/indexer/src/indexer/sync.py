"""The live sync: drain the sync queue in batches into every target collection.

Each replica runs one loop. A batch is: claim up to `sync_batch` queue entries (FOR
UPDATE SKIP LOCKED, so replicas never take the same entries), read the products'
current states, write them to each target collection (one embedding call per
collection), delete the entries, commit. A replica killed mid-batch rolls back: its
entries are unlocked and the next batch of any replica takes them again.

Between batches the loop sleeps until woken: the consumer's commit that queues products
sends a NOTIFY on `indexer_sync`, which the loop LISTENs for on a connection of its own
(as the outbox relay does), so a queued product is picked up at once instead of on the
next poll. Polling every `poll_interval` stays as the fallback (a lost listening
connection, a NOTIFY sent while the batch ran is kept by the connection and wakes the
next wait at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import psycopg
from opentelemetry.trace import Link
from psycopg import sql
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from indexer import metrics
from indexer.storage import collections as collections_store
from indexer.storage import documents as documents_store
from indexer.storage.documents import SYNC_CHANNEL
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
        poll_interval: float = 1.0,
        dsn: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.writer = writer
        self.batch = batch
        self.poll_interval = poll_interval
        self.dsn = dsn
        """libpq DSN for the LISTEN connection; None: poll only."""

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
                    metrics.SYNCED.labels(target.status, "metadata").inc(result.metadata_only)
                    if target.status == collections_store.ACTIVE:
                        collection = await self.writer.collection(target.name)
                        metrics.DOCUMENTS.set(await collection.count())
            await documents_store.release(session, [entry for entry, _, _ in claimed])
        metrics.SYNC_BATCH_SECONDS.observe(time.perf_counter() - started)
        return len(claimed)

    async def run(self, stop: asyncio.Event) -> None:
        listener = _Listener(self.dsn)
        failures = 0
        try:
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
                    await listener.wait(stop, self.poll_interval)
        finally:
            await listener.close()

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


class _Listener:
    """The LISTEN side of the wake-up: `wait` returns on a NOTIFY, on `stop`, or after
    `seconds` (the polling fallback). Without a connection (none configured, or lost) it
    just sleeps, and reconnects on the next wait."""

    def __init__(self, dsn: str | None) -> None:
        self.dsn = dsn
        self.conn: psycopg.AsyncConnection | None = None

    async def wait(self, stop: asyncio.Event, seconds: float) -> None:
        conn = await self._connection()
        if conn is None:
            await _sleep(stop, seconds)
            return
        notified = asyncio.create_task(_one_notify(conn, seconds))
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({notified, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not notified.done():  # stopping: the connection is closed right after
            notified.cancel()
            with contextlib.suppress(BaseException):
                await notified
            return
        if notified.exception() is not None:
            log.warning("lost the sync LISTEN connection (%r); polling", notified.exception())
            await self.close()

    async def _connection(self) -> psycopg.AsyncConnection | None:
        if self.conn is None and self.dsn is not None:
            try:
                conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(SYNC_CHANNEL)))
            except psycopg.Error as exc:
                log.warning("cannot LISTEN for queued products (%r); polling", exc)
                return None
            self.conn = conn
        return self.conn

    async def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()


async def _one_notify(conn: psycopg.AsyncConnection, seconds: float) -> None:
    async for _ in conn.notifies(timeout=seconds, stop_after=1):
        pass


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
