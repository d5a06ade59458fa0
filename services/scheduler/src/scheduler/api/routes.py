"""Admin routes: list jobs (next run, last run, last outcome), their runs, and run now."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, status

from marcus_eventstore import Conflict
from marcus_web.auth import Admin
from marcus_web.dependencies import ReadSession, unit_of_work
from scheduler import handlers
from scheduler.api.schemas import JobList, JobOut, LeaderOut, RunList, RunOut
from scheduler.domain import UnknownJob
from scheduler.jobs import Housekeeping, Job
from scheduler.scheduling import LEASE_NAME
from scheduler.storage import queries
from scheduler.storage.uow import SchedulerUnitOfWork

router = APIRouter(prefix="/api/v1/admin", tags=["jobs"])


UnitOfWork = Annotated[SchedulerUnitOfWork, Depends(unit_of_work(SchedulerUnitOfWork))]
JobName = Annotated[str, Path(description="job name, e.g. index-rebuild", max_length=80)]


def _jobs(request: Request) -> dict[str, Job]:
    jobs: dict[str, Job] = request.app.state.jobs
    return jobs


def _housekeeping(request: Request) -> dict[str, Housekeeping]:
    tasks: dict[str, Housekeeping] = request.app.state.housekeeping
    return tasks


def _job(request: Request, name: str) -> Job:
    job = _jobs(request).get(name)
    if job is None:
        if name in _housekeeping(request):
            raise Conflict(
                f"{name} is housekeeping: the leader runs it every "
                f"{_housekeeping(request)[name].interval_s} s and records no runs; "
                "to trim now, make trim-streams TRIM_ARGS=--apply"
            )
        names = sorted([*_jobs(request), *_housekeeping(request)])
        raise UnknownJob(f"no job named {name!r}; jobs: {', '.join(names)}")
    return job


@router.get("/jobs", response_model=JobList, summary="Jobs: schedule, next and last run")
async def list_jobs(request: Request, _: Admin, session: ReadSession) -> JobList:
    now = datetime.now(UTC)
    last = await queries.last_runs(session, _jobs(request))
    items = []
    for job in _jobs(request).values():
        last_run = RunOut.from_row(last[job.name], job) if job.name in last else None
        items.append(
            JobOut(
                name=job.name,
                event_type=job.event.event_type,
                cron=job.cron,
                timezone=str(job.timezone),
                next_run_at=job.next_fire_time(now),
                reported_by=job.reported_by,
                last_run=last_run,
                last_outcome=last_run.outcome if last_run else None,
            )
        )
    for task in _housekeeping(request).values():
        items.append(
            JobOut(
                name=task.name,
                kind="housekeeping",
                event_type=None,
                cron=None,
                interval_seconds=task.interval_s,
                timezone="UTC",
                next_run_at=task.next_fire_time(now),
                reported_by=None,
                description=task.description,
                last_run=None,
                last_outcome=None,
            )
        )
    lease = await queries.lease(session, LEASE_NAME)
    leader = None
    if lease is not None and lease.expires_at > now:
        leader = LeaderOut(
            holder=lease.holder,
            acquired_at=lease.acquired_at,
            expires_at=lease.expires_at,
            this_replica=lease.holder == request.app.state.holder,
        )
    return JobList(items=items, leader=leader)


@router.get("/jobs/{name}/runs", response_model=RunList, summary="A job's latest runs")
async def list_runs(
    request: Request,
    name: JobName,
    _: Admin,
    session: ReadSession,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> RunList:
    if name in _housekeeping(request):
        return RunList(items=[])  # it records no runs: its log and metrics say what it did
    job = _job(request, name)
    rows = await queries.runs(session, job.name, limit)
    return RunList(items=[RunOut.from_row(row, job) for row in rows])


@router.post(
    "/jobs/{name}/run",
    response_model=RunOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Run a job now: emits its event (the work itself happens in its consumer)",
)
async def run_now(
    request: Request, name: JobName, principal: Admin, session: ReadSession, uow: UnitOfWork
) -> RunOut:
    job = _job(request, name)
    fired = await handlers.fire_job(
        handlers.FireJob(job, datetime.now(UTC), requested_by=principal.subject), uow
    )
    return RunOut.from_row(await queries.run(session, fired.run_id), job)
