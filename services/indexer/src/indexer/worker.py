"""Runs queued rebuilds, one at a time across all replicas.

The worker that gets `pg_try_advisory_lock` (on a connection of its own, held for the
whole run) executes the oldest waiting run; the others keep serving. If the process dies
the connection closes, PostgreSQL releases the lock, and the next worker finds the run
still `running` and does it again from the start (a rebuild is a pure function of the
stream, so repeating it is safe), up to `MAX_ATTEMPTS`. A run that gives up appends
`indexer.index.rebuild_failed` in the transaction that marks it failed, so whoever asked
(the scheduler's run) learns the outcome as surely as a success's `indexer.index.rebuilt`;
the requests merged into the run are closed in that transaction and listed in the event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from indexer import metrics
from indexer.rebuild import Rebuilder
from indexer.storage import runs as runs_store
from indexer.storage.tables import event_store
from marcus_contracts import registry
from marcus_contracts.events.indexer import IndexRebuildFailed
from marcus_eventstore import EventStore

log = logging.getLogger("marcus.indexer.worker")

LOCK_SQL = "SELECT pg_try_advisory_lock(hashtext('indexer.rebuild'))"
UNLOCK_SQL = "SELECT pg_advisory_unlock(hashtext('indexer.rebuild'))"


class RebuildWorker:
    def __init__(
        self,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        rebuilder: Rebuilder,
        *,
        poll_interval: float = 1.0,
    ) -> None:
        self.engine = engine
        self.sessions = sessions
        self.rebuilder = rebuilder
        self.poll_interval = poll_interval
        self.wake = asyncio.Event()

    async def run_pending(self) -> UUID | None:
        """Run the next waiting rebuild if no other process runs one; its id, or None."""
        async with self.sessions() as session:
            if not await runs_store.any_waiting(session):
                return None
        async with self.engine.connect() as lock_conn:
            if not (await lock_conn.execute(text(LOCK_SQL))).scalar_one():
                await lock_conn.rollback()
                return None
            await lock_conn.commit()  # keep no transaction open for the whole run
            try:
                return await self._run_next()
            finally:
                await lock_conn.execute(text(UNLOCK_SQL))
                await lock_conn.commit()

    async def _run_next(self) -> UUID | None:
        async with self.sessions.begin() as session:
            run = await runs_store.next_to_run(session)
            if run is None:
                return None
            if run.status == runs_store.RUNNING and run.attempts >= runs_store.MAX_ATTEMPTS:
                await give_up(session, run.id, run.error or "gave up")
                metrics.REBUILDS.labels("failed").inc()
                return run.id
            await runs_store.start(session, run)
        log.info("rebuild %s (request %s by %s) starting", run.id, run.request_id, run.requested_by)
        try:
            await self.rebuilder.run(run)
        except Exception as exc:
            final = run.attempts + 1 >= runs_store.MAX_ATTEMPTS
            log.exception("rebuild %s failed%s", run.id, "" if not final else "; giving up")
            async with self.sessions.begin() as session:
                if final:
                    await give_up(session, run.id, repr(exc))
                else:
                    await runs_store.fail(session, run.id, repr(exc), final=False)
            metrics.REBUILDS.labels("failed").inc()
            return run.id
        metrics.REBUILDS.labels("done").inc()
        return run.id

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: a rebuild in progress is cancelled then (its run stays `running`
        and is done again by the next worker), so stopping never waits for a rebuild."""
        while not stop.is_set():
            attempt = asyncio.create_task(self.run_pending())
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({attempt, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not attempt.done():
                attempt.cancel()
                with contextlib.suppress(BaseException):
                    await attempt
                return
            try:
                ran = attempt.result()
            except Exception as exc:
                log.warning("rebuild worker pass failed: %r", exc)
                ran = None
            if ran is None:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(first_set(stop, self.wake), self.poll_interval)


async def give_up(session: AsyncSession, run_id: UUID, error: str) -> None:
    """Mark the run failed for good and append `indexer.index.rebuild_failed` (subject
    the run, like its success would have been: a run reports one outcome, once), which
    also answers the requests merged into the run. A run that failed after its switch
    committed is done and was reported as such: kept."""
    found = await runs_store.get(session, run_id)
    if found is None or found.status == runs_store.DONE:
        return
    await runs_store.fail(session, run_id, error, final=True)
    run = await runs_store.get(session, run_id)
    assert run is not None
    merged = await runs_store.close_coalesced(session, run.id)
    event = IndexRebuildFailed(
        run_id=run.id,
        request_id=run.request_id,
        requested_by=run.requested_by,
        error=run.error or error,
        attempts=max(run.attempts, 1),
        started_at=run.started_at,
        failed_at=datetime.now(UTC),
        coalesced_requests=runs_store.coalesced_requests(merged),
    )
    await EventStore(event_store).append(
        session, [registry.envelope(event, subject=str(run.id), sequence=1)]
    )


async def first_set(*events: asyncio.Event) -> None:
    """Wait until one of `events` is set."""
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
