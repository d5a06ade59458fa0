"""Rebuild runs: requests (one per request id, however often it is delivered) and outcomes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from indexer.storage.tables import rebuild_runs, row_as
from marcus_contracts.events.indexer import CoalescedRequest

REQUESTED = "requested"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
COALESCED = "coalesced"
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Run:
    id: UUID
    request_id: UUID
    requested_by: str
    status: str
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    collection: str | None
    previous_collection: str | None
    embedder: str | None
    documents: int | None
    events_replayed: int | None
    seconds: float | None
    attempts: int
    error: str | None
    coalesced_into: UUID | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class RebuildRuns:
    """The runs repository a unit of work hands its command handlers."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def request(self, request_id: UUID, requested_by: str) -> Run:
        return await request(self.session, request_id, requested_by)


async def request(session: AsyncSession, request_id: UUID, requested_by: str) -> Run:
    """Queue a rebuild for `request_id`; the same id again returns the first run."""
    await session.execute(
        pg_insert(rebuild_runs)
        .values(id=uuid4(), request_id=request_id, requested_by=requested_by, status=REQUESTED)
        .on_conflict_do_nothing(index_elements=[rebuild_runs.c.request_id])
    )
    row = (
        await session.execute(select(rebuild_runs).where(rebuild_runs.c.request_id == request_id))
    ).one()
    return row_as(Run, row)


async def get(session: AsyncSession, run_id: UUID) -> Run | None:
    row = (await session.execute(select(rebuild_runs).where(rebuild_runs.c.id == run_id))).first()
    return None if row is None else row_as(Run, row)


async def answering(session: AsyncSession, run: Run) -> Run:
    """The run whose outcome answers `run`'s request: the run it was merged into, if it
    was coalesced (merging is one level deep: `start` re-points earlier merges)."""
    if run.status != COALESCED or run.coalesced_into is None:
        return run
    return await get(session, run.coalesced_into) or run


async def next_to_run(session: AsyncSession) -> Run | None:
    """A run a dead process left `running` first (resumed), else the oldest request."""
    row = (
        await session.execute(
            select(rebuild_runs)
            .where(rebuild_runs.c.status.in_([RUNNING, REQUESTED]))
            .order_by((rebuild_runs.c.status == RUNNING).desc(), rebuild_runs.c.requested_at)
            .limit(1)
        )
    ).first()
    return None if row is None else row_as(Run, row)


async def any_waiting(session: AsyncSession) -> bool:
    return (await next_to_run(session)) is not None


async def start(session: AsyncSession, run: Run) -> None:
    """Mark `run` running and fold the requests queued before it into it (they asked for
    a rebuild from the stream as it is now, which this run gives them). A merged request
    stays open (`finished_at` null) until the run's outcome closes it (`close_coalesced`)."""
    await session.execute(
        update(rebuild_runs)
        .where(rebuild_runs.c.id == run.id)
        .values(
            status=RUNNING,
            started_at=func.now(),
            attempts=rebuild_runs.c.attempts + 1,
            error=None,
        )
    )
    merged = (
        await session.execute(
            update(rebuild_runs)
            .where(rebuild_runs.c.status == REQUESTED, rebuild_runs.c.id != run.id)
            .values(status=COALESCED, coalesced_into=run.id)
            .returning(rebuild_runs.c.id)
        )
    ).scalars()
    # Requests merged into a run that is now merged itself follow it (one level, always).
    await session.execute(
        update(rebuild_runs)
        .where(rebuild_runs.c.coalesced_into.in_(list(merged)))
        .values(coalesced_into=run.id)
    )


async def close_coalesced(session: AsyncSession, run_id: UUID) -> list[Run]:
    """The requests merged into `run_id`, closed now (oldest first): called in the
    transaction that records the run's outcome, whose event answers them too."""
    closed = (
        await session.execute(
            update(rebuild_runs)
            .where(rebuild_runs.c.coalesced_into == run_id, rebuild_runs.c.status == COALESCED)
            .values(finished_at=func.now())
            .returning(rebuild_runs)
        )
    ).all()
    return sorted((row_as(Run, row) for row in closed), key=lambda run: (run.requested_at, run.id))


def coalesced_requests(merged: list[Run]) -> list[CoalescedRequest]:
    """How an outcome event names the requests it answers besides its run's own."""
    return [
        CoalescedRequest(run_id=run.id, request_id=run.request_id, requested_by=run.requested_by)
        for run in merged
    ]


async def finish(session: AsyncSession, run_id: UUID, **outcome: Any) -> None:
    await session.execute(
        update(rebuild_runs)
        .where(rebuild_runs.c.id == run_id)
        .values(status=DONE, finished_at=func.now(), **outcome)
    )


async def fail(session: AsyncSession, run_id: UUID, error: str, *, final: bool) -> None:
    """Record a failed attempt (`final`: the run gives up). A run that is done stays
    done: its switch committed and its outcome was reported."""
    await session.execute(
        update(rebuild_runs)
        .where(rebuild_runs.c.id == run_id, rebuild_runs.c.status != DONE)
        .values(status=FAILED if final else REQUESTED, error=error[:2000], finished_at=func.now())
    )


async def recent(session: AsyncSession, limit: int) -> list[Run]:
    """The newest `limit` runs and requests, newest first (coalesced ones included)."""
    rows = await session.execute(
        select(rebuild_runs).order_by(rebuild_runs.c.requested_at.desc()).limit(limit)
    )
    return [row_as(Run, row) for row in rows]


async def latest(session: AsyncSession) -> Run | None:
    row = (
        await session.execute(
            select(rebuild_runs)
            .where(rebuild_runs.c.status != COALESCED)
            .order_by(func.coalesce(rebuild_runs.c.started_at, rebuild_runs.c.requested_at).desc())
            .limit(1)
        )
    ).first()
    return None if row is None else row_as(Run, row)


async def last_finished(session: AsyncSession) -> Run | None:
    row = (
        await session.execute(
            select(rebuild_runs)
            .where(rebuild_runs.c.status == DONE)
            .order_by(rebuild_runs.c.finished_at.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else row_as(Run, row)
