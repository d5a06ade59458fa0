"""job_runs is a projection: rebuilt from the scheduler's events it comes back the same,
outcomes included (`make rebuild-projections SERVICE=scheduler`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from marcus_eventstore import rebuild_projections
from scheduler import handlers
from scheduler.jobs import INDEX_REBUILD, VIEWS_REFRESH, default_jobs
from scheduler.storage.uow import SchedulerUnitOfWork
from services.scheduler.tests.support import all_runs

JOBS = default_jobs(
    timezone=ZoneInfo("UTC"), index_rebuild_cron="0 3 * * *", views_refresh_cron="0 * * * *"
)


async def test_rebuilding_job_runs_from_events_restores_them(engine, sessions) -> None:
    fire = datetime(2025, 1, 15, 3, tzinfo=ZoneInfo("UTC"))
    rebuild = await handlers.fire_job(
        handlers.FireJob(JOBS[INDEX_REBUILD], fire), SchedulerUnitOfWork(sessions)
    )
    await handlers.fire_job(
        handlers.FireJob(JOBS[VIEWS_REFRESH], fire, requested_by="ops"),
        SchedulerUnitOfWork(sessions),
    )
    report = uuid.uuid4()
    assert await handlers.record_outcome(
        handlers.RecordOutcome(rebuild.run_id, True, "done", "indexer.index.rebuilt", report),
        SchedulerUnitOfWork(sessions),
    )
    assert not await handlers.record_outcome(  # a second report changes nothing
        handlers.RecordOutcome(rebuild.run_id, False, "late", "indexer.index.rebuilt", report),
        SchedulerUnitOfWork(sessions),
    )
    before = await all_runs(engine)

    replayed = await rebuild_projections(
        engine, SchedulerUnitOfWork.store, SchedulerUnitOfWork.projector
    )

    assert replayed == 3  # two fires, one outcome
    assert await all_runs(engine) == before
    statuses = {run.job: (run.status, run.report_id) for run in before}
    assert statuses == {INDEX_REBUILD: ("succeeded", report), VIEWS_REFRESH: ("requested", None)}
