"""`python -m indexer reindex`: request a rebuild and see it through.

The request goes into `rebuild_runs` like an admin's or the scheduler's. This process
then runs the worker itself, so the command works whether or not an indexer is serving;
if a serving replica takes the run first, the command waits for that one instead. It
also runs a standby outbox relay: a rebuild from a snapshot asks the catalog through the
indexer's event store, and with no indexer serving, nothing else would publish the
request (with one serving, its relay holds the lead and this one waits).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
import uuid

import redis.asyncio as aioredis

from indexer import handlers
from indexer.runtime import IndexerRuntime
from indexer.settings import SERVICE, IndexerSettings
from indexer.storage import runs as runs_store
from indexer.storage.uow import IndexerUnitOfWork
from marcus_web.app import make_engine, make_relay
from marcus_web.settings import ServiceSettings


async def reindex(settings: IndexerSettings, within: float = 3600.0) -> runs_store.Run:
    engine = make_engine(settings)
    redis = aioredis.from_url(settings.redis_url)
    stop = asyncio.Event()
    relay = asyncio.create_task(make_relay(settings, SERVICE, redis).run(stop))
    try:
        runtime = IndexerRuntime(settings, engine, redis)
        await runtime.connect()
        assert runtime.worker is not None
        run = await handlers.request_rebuild(
            handlers.RequestRebuild(uuid.uuid4(), "cli:reindex"),
            IndexerUnitOfWork(runtime.sessions),
        )
        deadline = time.monotonic() + within
        while True:
            await runtime.worker.run_pending()
            async with runtime.sessions() as session:
                current = await runs_store.get(session, run.id)
                assert current is not None
                # a coalesced request ends with the run that took it over
                answer = await runs_store.answering(session, current)
            if answer.status in (runs_store.DONE, runs_store.FAILED):
                return answer
            if time.monotonic() > deadline:
                raise TimeoutError(f"rebuild {run.id} did not finish within {within}s")
            await asyncio.sleep(0.5)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(relay, 10)
        await redis.aclose()
        await engine.dispose()


def reindex_command(args: argparse.Namespace, settings: ServiceSettings) -> None:
    assert isinstance(settings, IndexerSettings)
    run = asyncio.run(reindex(settings))
    if run.status != runs_store.DONE:
        raise SystemExit(f"rebuild {run.id} {run.status}: {run.error}")
    print(
        f"rebuild {run.id}: {run.documents} documents from {run.events_replayed} events "
        f"in {run.seconds:.1f}s; active collection {run.collection} (was {run.previous_collection})"
    )
