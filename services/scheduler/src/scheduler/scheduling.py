"""Wires the lease, the leader loop, APScheduler and the fire use case together."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from scheduler import handlers
from scheduler.domain import NotLeader
from scheduler.jobs import Job
from scheduler.leadership import Leadership
from scheduler.metrics import LEADER
from scheduler.runner import JobRunner
from scheduler.settings import SchedulerSettings
from scheduler.storage.lease import Lease, Tenure
from scheduler.storage.uow import SchedulerUnitOfWork

LEASE_NAME = "scheduler"


def replica_name() -> str:
    """Unique per process start: a restarted replica is a new holder with a new tenure."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Scheduling:
    """This replica's part in scheduling: compete for the lease; while leading, fire."""

    def __init__(
        self,
        settings: SchedulerSettings,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        jobs: Mapping[str, Job],
        holder: str,
    ) -> None:
        self.sessions = sessions
        self.lease = Lease(engine, LEASE_NAME, holder, settings.lease_ttl_seconds)
        self.runner = JobRunner(jobs, self.fire_scheduled, settings.grace)
        self.leadership = Leadership(
            self.lease,
            poll_seconds=settings.lease_poll_seconds,
            on_elected=self._elected,
            on_deposed=self._deposed,
        )

    async def run(self, stop: asyncio.Event) -> None:
        await self.leadership.run(stop)

    async def fire_scheduled(self, job: Job, fire_time: datetime) -> bool:
        tenure = self.leadership.tenure
        if tenure is None:
            raise NotLeader(f"not the scheduler leader: {job.name} at {fire_time} not fired")

        async def fence(session: AsyncSession) -> bool:
            return await self.lease.holds(session, tenure)

        uow = SchedulerUnitOfWork(self.sessions)
        fired = await handlers.fire_job(handlers.FireJob(job, fire_time), uow, fence=fence)
        return fired.created

    async def _elected(self, tenure: Tenure) -> None:
        LEADER.set(1)
        await self.runner.start()

    async def _deposed(self, tenure: Tenure) -> None:
        LEADER.set(0)
        await self.runner.stop()
