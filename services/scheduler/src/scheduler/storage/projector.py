"""Projects the scheduler's events into `job_runs` (live, and on a rebuild)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from marcus_contracts import Envelope, registry
from marcus_contracts.events import scheduler as ev
from scheduler.jobs import FIRE_EVENTS as FIRE_MODELS
from scheduler.storage.tables import PROJECTIONS, job_runs

FIRE_EVENTS = tuple(model.event_type for model in FIRE_MODELS)


class SchedulerProjector:
    tables: Sequence[Table] = PROJECTIONS

    async def apply(self, session: AsyncSession, envelope: Envelope) -> None:
        if envelope.type in FIRE_EVENTS:
            await self._fired(session, envelope, registry.decode(envelope))
        elif envelope.type == ev.JobFinished.event_type:
            await self._finished(session, envelope, registry.decode(envelope))

    async def _fired(self, session: AsyncSession, envelope: Envelope, event: Any) -> None:
        await session.execute(
            insert(job_runs).values(
                id=envelope.id,
                job=event.job,
                fire_time=event.fire_time,
                requested_by=event.requested_by,
                event_type=envelope.type,
                fired_at=envelope.time,
                status="requested",
                version=envelope.sequence,
            )
        )

    async def _finished(self, session: AsyncSession, envelope: Envelope, event: Any) -> None:
        await session.execute(
            update(job_runs)
            .where(job_runs.c.id == event.run_id)
            .values(
                status=event.outcome,
                outcome_at=envelope.time,
                outcome_detail=event.detail,
                report_id=event.report_id,
                version=envelope.sequence,
            )
        )
