"""Use cases of the scheduler, each in one unit of work: fire a job, record an outcome."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from marcus_eventstore import ConcurrencyError
from scheduler.domain import JobRun, NotLeader
from scheduler.jobs import Job, run_id
from scheduler.storage.uow import SchedulerUnitOfWork as UnitOfWork

Fence = Callable[[AsyncSession], Awaitable[bool]]
"""Checked inside the fire's transaction: may this replica still fire on schedule?"""


@dataclass(frozen=True)
class FireJob:
    job: Job
    fire_time: datetime
    requested_by: str = "schedule"


@dataclass(frozen=True)
class Fired:
    run_id: UUID
    created: bool
    """False: this (job, fire time) had fired already, so nothing was emitted now."""


@dataclass(frozen=True)
class RecordOutcome:
    run_id: UUID
    succeeded: bool
    detail: str
    reported_by: str
    report_id: UUID


async def fire_job(cmd: FireJob, uow: UnitOfWork, fence: Fence | None = None) -> Fired:
    """Record the run and append its event (queued in the outbox) in one transaction.

    The run id is derived from (job, fire time) and so is the event id, and job_runs is
    unique on (job, fire time): a repeated fire finds the run, and a concurrent one fails
    on the unique index once the first commits; both end as `created=False`.
    """
    expected = run_id(cmd.job.name, cmd.fire_time)
    async with uow:
        if fence is not None and not await fence(uow.session):
            raise NotLeader(f"not the scheduler leader any more: {cmd.job.name} not fired")
        if await uow.repo.run(expected) is not None:
            return Fired(expected, created=False)
        run = JobRun.fire(cmd.job, cmd.fire_time, cmd.requested_by)
        uow.repo.add(run)
        try:
            await uow.commit()
        except (ConcurrencyError, IntegrityError):
            pass  # lost a race; the checks below say against whom
        else:
            return Fired(run.id, created=True)
    async with uow:
        if await uow.repo.run(expected) is not None:
            return Fired(expected, created=False)
    raise RuntimeError(f"firing {cmd.job.name} failed on a unique index but no run exists")


async def record_outcome(cmd: RecordOutcome, uow: UnitOfWork) -> bool:
    """Give the run its reported outcome; False for an unknown run or a repeated report."""
    return bool(await record_outcomes([cmd], uow))


async def record_outcomes(cmds: Sequence[RecordOutcome], uow: UnitOfWork) -> list[UUID]:
    """Give each run its reported outcome, all in one transaction (one report answers a
    rebuild and the requests merged into it); the ids of the runs that changed. Unknown
    runs and runs that have their outcome already are skipped. Rows are locked in id
    order, so two reports naming overlapping runs queue up instead of deadlocking."""
    changed: list[UUID] = []
    async with uow:
        for cmd in sorted({cmd.run_id: cmd for cmd in cmds}.values(), key=lambda c: c.run_id):
            run = await uow.repo.run(cmd.run_id, lock=True)
            if run is not None and run.finish(
                succeeded=cmd.succeeded,
                detail=cmd.detail,
                reported_by=cmd.reported_by,
                report_id=cmd.report_id,
            ):
                changed.append(run.id)
        await uow.commit()
    return changed
