"""Wires the lease, the leader loop, APScheduler and the fire use case together."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Mapping
from datetime import datetime

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from scheduler import handlers
from scheduler.domain import NotLeader
from scheduler.housekeeping import StreamRetentionJob
from scheduler.jobs import STREAM_RETENTION, Housekeeping, Job
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
        redis: aioredis.Redis | None = None,
    ) -> None:
        self.sessions = sessions
        self.lease = Lease(engine, LEASE_NAME, holder, settings.lease_ttl_seconds)
        housekeeping = settings.housekeeping() if redis is not None else {}
        self.stream_retention = (
            StreamRetentionJob(redis, settings.stream_prefix, settings.retention())
            if redis is not None
            else None
        )
        self.runner = JobRunner(
            jobs,
            self.fire_scheduled,
            settings.grace,
            housekeeping=housekeeping,
            act=self.run_housekeeping,
        )
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

    async def run_housekeeping(self, task: Housekeeping, now: datetime) -> object:
        """Only the lease holder trims (a deposed one whose scheduler is still stopping
        does nothing); trimming twice would be harmless, this keeps it to one writer."""
        if self.leadership.tenure is None:
            raise NotLeader(f"not the scheduler leader: {task.name} not run")
        if task.name == STREAM_RETENTION and self.stream_retention is not None:
            return await self.stream_retention.run(now)
        raise LookupError(f"no housekeeping named {task.name!r}")

    async def _elected(self, tenure: Tenure) -> None:
        LEADER.set(1)
        await self.runner.start()

    async def _deposed(self, tenure: Tenure) -> None:
        LEADER.set(0)
        await self.runner.stop()
        if self.stream_retention is not None:
            self.stream_retention.stand_down()
