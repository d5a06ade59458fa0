"""Zero-downtime rebuild from a catalog snapshot (issue 24; ADR 0014).

1. A new collection (named after the configured embedder) is created in Chroma, then
   recorded as `building`: from that commit on, the live sync writes every change to it
   as well as to the active collection.
2. The starting state, folded to the latest state per product and written to the new
   collection in batches (one embedding call each), comes from one of two sources
   (`IndexerSettings.rebuild_source`):
   - `snapshot` (default): the catalog's current state of every product, with the
     `events.catalog` position it is consistent with (`indexer.snapshot`). Its cost
     grows with the catalog, not with the stream's history, and it works on a trimmed
     stream.
   - `replay`: `events.catalog` from its first entry (XRANGE pages). Complete only when
     the stream was never trimmed (or was republished from the event store).
3. Catch-up: entries after the starting position are read and written, until a read
   finds nothing new.
4. Switch, in one transaction: new collection `active`, old `retired`, the run `done`,
   the requests merged into it closed, and `indexer.index.rebuilt` (listing them in
   `coalesced_requests`) appended to the event store (the relay publishes it).
   Then the Redis alias is set, so search flips to the new collection at once.
5. The old collection is dropped from Chroma.

Once the switch committed, the run is done and reported: a failure in steps 4 (alias)
or 5 is logged and left to the alias keeper (it re-asserts the alias every
`ALIAS_REFRESH_INTERVAL`) and to the next run (it drops retired leftovers). It must not
fail the run, which would drop the collection that is now active and run the request
again.

Search reads the active collection all along, which stays complete (the live sync
keeps writing to it) until the switch. The live sync and the rebuild both write through
`IndexWriter`, whose per-collection sequence guard keeps either from overwriting a
newer document with an older one. Every event the live consumer applied before step 1
committed is at or below the snapshot's position (the snapshot is asked for after step
1), so the snapshot reflects it; every later one is written by the live sync to the new
collection, and the catch-up reads it again: the new collection misses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from indexer import metrics
from indexer.alias import publish_alias
from indexer.domain import ProductState
from indexer.pacing import WritePacer
from indexer.replay import Fold, read_page
from indexer.snapshot import snapshot_fold
from indexer.storage import collections as collections_store
from indexer.storage import runs as runs_store
from indexer.storage.collections import BUILDING, DROPPED, FAILED, Target
from indexer.storage.runs import Run
from indexer.storage.tables import event_store
from indexer.writer import IndexWriter
from marcus_contracts import StreamNames, registry
from marcus_contracts.events.indexer import IndexRebuilt
from marcus_eventstore import EventStore
from marcus_search import AliasStore, CollectionName, Embedder
from marcus_search.chroma import NotFoundError, create_collection

log = logging.getLogger("marcus.indexer.rebuild")

MAX_CATCH_UP_ROUNDS = 50


@dataclass(frozen=True)
class RebuildResult:
    collection: str
    previous_collection: str | None
    documents: int
    events_replayed: int
    seconds: float


class Rebuilder:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        redis: aioredis.Redis,
        writer: IndexWriter,
        alias: AliasStore,
        stream: str,
        namespace: str,
        embedder: Embedder,
        page: int = 1000,
        batch: int = 256,
        source: str = "snapshot",
        names: StreamNames | None = None,
        snapshot_timeout_s: float = 300.0,
        write_chunk: int = 0,
        write_gap: float = 0.0,
        in_flight: int = 2,
    ) -> None:
        self.sessions = sessions
        self.redis = redis
        self.writer = writer
        self.alias = alias
        self.stream = stream
        self.namespace = namespace
        self.embedder = embedder
        self.page = page
        self.batch = batch
        self.source = source
        self.names = names or StreamNames()
        self.snapshot_timeout_s = snapshot_timeout_s
        self.write_chunk = write_chunk
        self.write_gap = write_gap
        self.in_flight = max(1, in_flight)
        self.pacer = self._pacer()
        self.store = EventStore(event_store)

    async def run(self, run: Run) -> RebuildResult:
        """Execute `run` (already marked running by the caller, who holds the rebuild lock)."""
        started = time.perf_counter()
        started_at = datetime.now(UTC)
        self.pacer = self._pacer()
        await self._drop_leftovers()
        name = CollectionName.new(
            self.embedder.name, self.embedder.dimension, run.id, self.namespace
        ).on(await self._build_server())
        target = Target(str(name), self.embedder.kind, self.embedder.dimension, BUILDING)
        await create_collection(
            await self.writer.servers.for_collection(name),
            target.name,
            {"embedder": self.embedder.name, "dimension": self.embedder.dimension},
        )
        async with self.sessions.begin() as session:
            await collections_store.add(session, name, self.embedder.kind, BUILDING, run.id)
        try:
            if self.source == "replay":
                fold = Fold()
                await self._replay(fold, target)
            else:
                fold = await self._from_snapshot(run, target)
            await self._catch_up(fold, target)
            collection = await self.writer.collection(target.name)
            documents = await collection.count()
            seconds = time.perf_counter() - started
            previous = await self._switch(run, target, fold, documents, seconds, started_at)
        except BaseException:
            await self._abandon(target.name)
            raise
        await self._after_switch(run, previous)
        metrics.REBUILD_SECONDS.observe(seconds)
        log.info(
            "rebuild %s (from %s): %d documents from %d events in %.1fs into %s (was %s); "
            "%d Chroma writes, %.1fs of gaps",
            run.id,
            self.source,
            documents,
            fold.events,
            seconds,
            target.name,
            previous,
            self.pacer.calls,
            self.pacer.paused_s,
        )
        return RebuildResult(target.name, previous, documents, fold.events, seconds)

    def _pacer(self) -> WritePacer:
        """A run's pacer (`indexer.pacing`): it counts the run's writes and gaps."""
        return WritePacer(chunk=self.write_chunk, gap=self.write_gap)

    async def _replay(self, fold: Fold, target: Target) -> None:
        """Read the whole stream, then write the folded states (once per product)."""
        while True:
            entries = await read_page(self.redis, self.stream, fold.last_id, self.page)
            if not entries:
                break
            fold.add(entries)
        await self._write(target, fold, set(fold.states))

    async def _from_snapshot(self, run: Run, target: Target) -> Fold:
        """The catalog's snapshot, written once per product; the fold's position is the
        marker's, so the catch-up reads `events.catalog` after it."""
        fold = await snapshot_fold(
            self.sessions,
            self.redis,
            self.names,
            run.id,
            timeout_s=self.snapshot_timeout_s,
            page=self.page,
        )
        await self._write(target, fold, set(fold.states))
        return fold

    async def _catch_up(self, fold: Fold, target: Target) -> None:
        for _ in range(MAX_CATCH_UP_ROUNDS):
            changed: set[UUID] = set()
            while True:
                entries = await read_page(self.redis, self.stream, fold.last_id, self.page)
                if not entries:
                    break
                changed |= fold.add(entries)
            if not changed:
                return
            await self._write(target, fold, changed)
        log.warning("catch-up still saw new events after %d rounds", MAX_CATCH_UP_ROUNDS)

    async def _write(self, target: Target, fold: Fold, product_ids: set[UUID]) -> None:
        """Write the products' states in batches, `in_flight` of them under way at once.

        A batch is a transaction of its own (guard, embed, upsert, digests, commit) over
        products no other batch of the run holds, so they never wait on each other's
        locks: while Chroma applies one batch's upsert, the next is guarded and embedded
        here. The first failure cancels the batches still running and is raised; every
        batch commits only after Chroma answered, so nothing is recorded unwritten."""
        ordered = sorted(product_ids)
        running: deque[asyncio.Task[None]] = deque()
        try:
            for start in range(0, len(ordered), self.batch):
                states = [fold.states[pid] for pid in ordered[start : start + self.batch]]
                if len(running) >= self.in_flight:
                    await running.popleft()
                running.append(asyncio.create_task(self._write_batch(target, states)))
            while running:
                await running.popleft()
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _write_batch(self, target: Target, states: list[ProductState]) -> None:
        async with self.sessions.begin() as session:
            await self.writer.write(session, target, states, self.pacer)

    async def _switch(
        self,
        run: Run,
        target: Target,
        fold: Fold,
        documents: int,
        seconds: float,
        started_at: datetime,
    ) -> str | None:
        async with self.sessions.begin() as session:
            previous = await collections_store.switch(session, target.name)
            previous_name = None if previous is None else previous.name
            merged = await runs_store.close_coalesced(session, run.id)
            event = IndexRebuilt(
                run_id=run.id,
                request_id=run.request_id,
                requested_by=run.requested_by,
                collection=target.name,
                previous_collection=previous_name,
                embedder=self.embedder.name,
                dimension=self.embedder.dimension,
                documents=documents,
                events_replayed=fold.events,
                seconds=round(seconds, 3),
                started_at=started_at,
                finished_at=datetime.now(UTC),
                coalesced_requests=runs_store.coalesced_requests(merged),
            )
            await self.store.append(
                session, [registry.envelope(event, subject=str(run.id), sequence=1)]
            )
            await runs_store.finish(
                session,
                run.id,
                collection=target.name,
                previous_collection=previous_name,
                embedder=self.embedder.name,
                documents=documents,
                events_replayed=fold.events,
                seconds=seconds,
            )
        return previous_name

    async def _after_switch(self, run: Run, previous: str | None) -> None:
        """Point search at the new collection and drop the old one; the run is done
        whatever happens here (see the module docstring)."""
        try:
            await publish_alias(self.sessions, self.alias)
        except Exception as exc:
            log.warning(
                "rebuild %s: switched, but the alias could not be set (%r); the alias "
                "keeper sets it",
                run.id,
                exc,
            )
        try:
            await self._drop(previous)
        except Exception as exc:
            log.warning(
                "rebuild %s: could not drop the old collection %s (%r); the next rebuild does",
                run.id,
                previous,
                exc,
            )

    async def _build_server(self) -> str:
        """The Chroma server the new collection goes on: the one that does not hold the
        active collection when there are two (ADR 0035), so searches do not wait on
        this run's writes, nor on the old collection's drop after the switch."""
        async with self.sessions() as session:
            active = await collections_store.active(session)
        return self.writer.servers.to_build_beside(active.name if active else None)

    async def _drop(self, name: str | None) -> None:
        if name is None:
            return
        with contextlib.suppress(NotFoundError):
            await (await self.writer.servers.for_collection(name)).delete_collection(name)
        self.writer.forget(name)
        async with self.sessions.begin() as session:
            await collections_store.set_status(session, name, DROPPED)
            await collections_store.forget_guards(session, name)

    async def _abandon(self, name: str) -> None:
        """A failed run's collection: stop live writes to it, then drop it."""
        try:
            async with self.sessions.begin() as session:
                await collections_store.set_status(session, name, FAILED)
            await (await self.writer.servers.for_collection(name)).delete_collection(name)
            self.writer.forget(name)
            async with self.sessions.begin() as session:
                await collections_store.forget_guards(session, name)
        except Exception as exc:  # the next run drops leftovers again
            log.warning("could not drop the collection %s of a failed rebuild: %r", name, exc)

    async def _drop_leftovers(self) -> None:
        """Collections a crashed run left `building` or `failed`/`retired` in Chroma."""
        async with self.sessions() as session:
            leftovers = [
                *(await collections_store.with_status(session, BUILDING)),
                *(await collections_store.with_status(session, FAILED)),
                *(await collections_store.with_status(session, "retired")),
            ]
        for target in leftovers:
            if target.status == BUILDING:
                async with self.sessions.begin() as session:
                    await collections_store.set_status(session, target.name, FAILED)
            await self._drop(target.name)
