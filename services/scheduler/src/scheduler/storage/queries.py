"""Read side for the admin API: runs per job, the current lease holder."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.storage.tables import job_runs, leases


async def last_runs(session: AsyncSession, jobs: Iterable[str]) -> dict[str, Any]:
    """The latest run (by fire time) of each job that ran; one index probe per job."""
    found = {}
    for job in jobs:
        rows = await runs(session, job, limit=1)
        if rows:
            found[job] = rows[0]
    return found


async def runs(session: AsyncSession, job: str, limit: int) -> list[Any]:
    query = (
        select(job_runs)
        .where(job_runs.c.job == job)
        .order_by(job_runs.c.fire_time.desc())
        .limit(limit)
    )
    return list((await session.execute(query)).all())


async def lease(session: AsyncSession, name: str) -> Any | None:
    return (await session.execute(select(leases).where(leases.c.name == name))).first()


async def run(session: AsyncSession, run_id: UUID) -> Any:
    return (await session.execute(select(job_runs).where(job_runs.c.id == run_id))).one()
