"""What `GET /admin/index` reports: active collection, size, embedder, lag, rebuilds."""

from __future__ import annotations

import redis.asyncio as aioredis

from indexer import metrics
from indexer.api.schemas import ConsumerLag, IndexStatus, RebuildOut, StreamLag
from indexer.runtime import IndexerRuntime
from indexer.settings import SERVICE
from indexer.storage import collections as collections_store
from indexer.storage import documents as documents_store
from indexer.storage import runs as runs_store
from indexer.storage.runs import Run
from marcus_messaging import group_state


def rebuild_out(run: Run | None, answered_by: Run | None = None) -> RebuildOut | None:
    """`answered_by`: the run whose outcome answers `run` (the one a coalesced request was
    merged into); `run` itself when not given."""
    if run is None:
        return None
    data = run.as_dict()
    data["run_id"] = data.pop("id")
    deciding = answered_by or run
    final = deciding.status in (runs_store.DONE, runs_store.FAILED)
    return RebuildOut(**data, outcome=deciding.status if final else None)


async def stream_lag(redis: aioredis.Redis, stream: str, group: str) -> StreamLag:
    state = await group_state(redis, stream, group)
    if state is None:  # no group yet: everything in the stream is undelivered
        return StreamLag(stream=stream, pending=0, undelivered=int(await redis.xlen(stream)))
    return StreamLag(stream=stream, pending=state.pending, undelivered=state.lag)


async def index_status(runtime: IndexerRuntime) -> IndexStatus:
    async with runtime.sessions() as session:
        active = await collections_store.active(session)
        queued = await documents_store.queued(session)
        last = await runs_store.last_finished(session)
        latest = await runs_store.latest(session)
    metrics.QUEUED.set(queued)
    documents = None
    if active is not None and runtime.writer is not None:
        documents = await (await runtime.writer.collection(active.name)).count()
        metrics.DOCUMENTS.set(documents)
    streams = [
        await stream_lag(runtime.redis, runtime.names.events(service), SERVICE)
        for service in ("catalog", "scheduler")
    ]
    undelivered = [s.undelivered for s in streams]
    total = (
        None
        if any(u is None for u in undelivered)
        else queued + sum(s.pending for s in streams) + sum(u or 0 for u in undelivered)
    )
    current = latest if latest is not None and latest.status in ("requested", "running") else None
    return IndexStatus(
        active_collection=None if active is None else active.name,
        embedder=None if active is None else active.embedder,
        dimension=None if active is None else active.dimension,
        documents=documents,
        configured_embedder=f"{runtime.embedder.name}/{runtime.embedder.dimension}",
        lag=ConsumerLag(total=total, queued=queued, streams=streams),
        last_rebuild=rebuild_out(last),
        current_rebuild=rebuild_out(current),
    )
