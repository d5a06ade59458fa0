"""Helpers of the scheduler tests: its stream as consumers see it, its job runs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from marcus_contracts import STREAM_FIELD, Envelope, StreamNames
from scheduler.storage.tables import job_runs


class SchedulerStream:
    """The scheduler's stream as its consumers (the indexer, ...) read it."""

    def __init__(self, redis_client: Any, prefix: str) -> None:
        self.redis = redis_client
        self.name = StreamNames(prefix).events("scheduler")

    async def envelopes(self) -> list[Envelope]:
        entries = await self.redis.xrange(self.name)
        return [Envelope.from_json(fields[STREAM_FIELD.encode()]) for _, fields in entries]

    async def fires(self) -> list[Envelope]:
        return [e for e in await self.envelopes() if e.type != "scheduler.job.finished"]


async def all_runs(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        query = select(job_runs).order_by(job_runs.c.job, job_runs.c.fire_time)
        return list((await conn.execute(query)).all())
