"""Loads job runs from the projection and remembers them for the unit of work."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select

from marcus_eventstore import AggregateRepository
from scheduler.domain import JobRun
from scheduler.storage.tables import job_runs


class Repository(AggregateRepository):
    async def run(self, run_id: UUID, *, lock: bool = False) -> JobRun | None:
        """`lock` holds the row until commit, so concurrent outcome reports queue up."""
        query = select(job_runs).where(job_runs.c.id == run_id)
        row = (await self.session.execute(query.with_for_update() if lock else query)).first()
        if row is None:
            return None
        run = JobRun(
            id=row.id, version=row.version, job=row.job, fire_time=row.fire_time, status=row.status
        )
        return self.remember(run)
