"""The indexer's moving parts in one process, and their lifecycle.

`IndexerRuntime.run()` connects to Chroma, makes sure an active collection exists,
then runs side by side until stopped: the syncer (queue -> Chroma), the rebuild worker
and the alias keeper. The consumer (catalog events -> `documents` + sync queue; rebuild
requests -> `rebuild_runs`) starts once it is connected (`indexer.consumer.run_consumer`).
Chroma being down at start is not fatal: start retries until it answers (readiness says
so meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from indexer import handlers
from indexer.alias import publish_alias
from indexer.rebuild import Rebuilder
from indexer.settings import IndexerSettings
from indexer.storage import collections as collections_store
from indexer.storage.collections import ACTIVE
from indexer.storage.uow import IndexerUnitOfWork
from indexer.sync import Syncer
from indexer.worker import RebuildWorker, first_set
from indexer.writer import IndexWriter
from marcus_contracts import StreamNames
from marcus_eventstore import libpq_dsn
from marcus_search import AliasStore, CollectionName, Embedder, EmbedderPool, IndexServers
from marcus_search.chroma import create_collection

log = logging.getLogger("marcus.indexer")

EMBEDDER_CHANGE = uuid.UUID("6f1c1f0e-4d8e-4c59-9a43-1a0c6e2f7b11")


class IndexerRuntime:
    def __init__(
        self,
        settings: IndexerSettings,
        engine: AsyncEngine,
        redis: aioredis.Redis,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.redis = redis
        self.names = StreamNames(settings.stream_prefix)
        self.alias = AliasStore(redis, settings.stream_prefix)
        self.embedders = EmbedderPool(settings.embedder_config())
        self.servers = IndexServers(settings.chroma_url, settings.chroma_alt_url)
        self.writer: IndexWriter | None = None
        self.worker: RebuildWorker | None = None
        self.ready = asyncio.Event()

    @property
    def embedder(self) -> Embedder:
        return self.embedders.default()

    async def connect(self) -> None:
        """Chroma clients, writer, rebuild worker; an active collection (first start).
        Every configured Chroma server must answer: live writes go to the active and the
        building collection, which may be on either."""
        await self.servers.heartbeat()
        self.writer = IndexWriter(self.servers, self.embedders)
        rebuilder = Rebuilder(
            sessions=self.sessions,
            redis=self.redis,
            writer=self.writer,
            alias=self.alias,
            stream=self.names.events("catalog"),
            namespace=self.settings.index_namespace,
            embedder=self.embedder,
            page=self.settings.rebuild_page,
            batch=self.settings.rebuild_batch,
            source=self.settings.rebuild_source,
            names=self.names,
            snapshot_timeout_s=self.settings.snapshot_timeout_s,
            write_chunk=self.settings.rebuild_write_chunk,
            write_gap=self.settings.rebuild_write_gap,
            in_flight=self.settings.rebuild_in_flight,
        )
        self.worker = RebuildWorker(
            self.engine,
            self.sessions,
            rebuilder,
            poll_interval=self.settings.rebuild_poll_interval,
        )
        await self.ensure_active()
        await publish_alias(self.sessions, self.alias)
        self.ready.set()

    async def ensure_active(self) -> None:
        """First start: an empty active collection for the configured embedder (the
        consumer, starting at the beginning of the stream, fills it). Later starts with
        another embedder configured: request a rebuild into a collection of the new one."""
        embedder = self.embedder
        async with self.sessions.begin() as session:
            await collections_store.lock_bootstrap(session)
            active = await collections_store.active(session)
            if active is None:
                name = CollectionName.new(
                    embedder.name, embedder.dimension, uuid.uuid4(), self.settings.index_namespace
                )
                await create_collection(
                    await self.servers.client(name.server),
                    str(name),
                    {"embedder": embedder.name, "dimension": embedder.dimension},
                )
                await collections_store.add(session, name, embedder.kind, ACTIVE, None)
                log.info("created the first active collection %s", name)
                return
            if (active.embedder, active.dimension) != (embedder.name, embedder.dimension):
                request_id = uuid.uuid5(
                    EMBEDDER_CHANGE, f"{active.name}->{embedder.name}/{embedder.dimension}"
                )
                await handlers.request_rebuild(
                    handlers.RequestRebuild(request_id, "embedder-change"),
                    IndexerUnitOfWork.joining(session),
                )
                log.warning(
                    "active collection %s was built with another embedder than %s/%d: "
                    "a rebuild was requested",
                    active.name,
                    embedder.name,
                    embedder.dimension,
                )

    async def run(self, stop: asyncio.Event) -> None:
        """Everything, until `stop` is set."""
        delay = 0.5
        while not stop.is_set():
            try:
                await self.connect()
                break
            except Exception as exc:
                log.warning("indexer cannot start yet (%r); retrying in %.1fs", exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, 10.0)
        if stop.is_set():
            return
        assert self.writer is not None and self.worker is not None
        tasks = [
            Syncer(
                self.sessions,
                self.writer,
                batch=self.settings.sync_batch,
                poll_interval=self.settings.sync_poll_interval,
                dsn=libpq_dsn(self.settings.database_url) if self.settings.sync_listen else None,
            ).run(stop),
            self._keep_alias(stop),
        ]
        if self.settings.rebuild_enabled:
            tasks.append(self.worker.run(stop))
        await asyncio.gather(*tasks)

    async def connected(self, stop: asyncio.Event) -> bool:
        """Wait until `run` is connected (True), or until `stop` (False)."""
        await first_set(stop, self.ready)
        return self.ready.is_set()

    def wake_worker(self) -> None:
        """A rebuild was requested: the worker need not wait for its next poll."""
        if self.worker is not None:
            self.worker.wake.set()

    async def _keep_alias(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.alias_refresh_interval)
            if stop.is_set():
                return
            try:
                await publish_alias(self.sessions, self.alias)
            except Exception as exc:
                log.warning("could not refresh the index alias: %r", exc)
