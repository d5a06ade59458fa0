"""`consumer_task` starts a service's consumer even when Redis is away at start: it
retries with a backoff, and the group appears once Redis answers (nothing waits for a
restart of the service)."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine

from marcus_messaging import Consumer
from marcus_web.consumers import consumer_task, service_consumer
from marcus_web.settings import ServiceSettings
from tests.support.servers import RedisProcess, wait_for


async def test_a_consumer_waits_for_redis_then_starts(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    redis = RedisProcess()  # its port is chosen, nothing listens there yet
    prefix = f"task-{uuid.uuid4().hex[:8]}:"
    settings = ServiceSettings(database_url=database_url, redis_url=redis.url, stream_prefix=prefix)
    app = FastAPI()
    app.state.settings = settings
    app.state.engine = create_async_engine(settings.database_url)

    def build(settings: ServiceSettings, app: FastAPI) -> Consumer:
        return service_consumer(settings, app, group="tasktest", streams=["catalog"], schema="t")

    stop = asyncio.Event()
    caplog.set_level(logging.WARNING, logger="marcus.web.consumers")
    task = asyncio.create_task(consumer_task(build)(app, stop))
    try:
        await wait_for(
            lambda: any("cannot start" in r.getMessage() for r in caplog.records),
            within=30,
            what="a retry while Redis is away",
        )
        assert not task.done(), "the task gave up instead of retrying"

        redis.start()
        client = aioredis.from_url(redis.url)
        stream = settings.stream_names().events("catalog")

        async def group_exists() -> bool:
            try:
                groups = await client.xinfo_groups(stream)
            except Exception:
                return False
            return any(g["name"] == b"tasktest" for g in groups)

        await wait_for(group_exists, within=30, what="the group created once Redis answers")
        await client.aclose()
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        redis.stop()
        await app.state.engine.dispose()
