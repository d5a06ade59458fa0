"""A service's consumer group inside its process: built the same way by every service.

Each service's `consumer.py` defines its handlers (`@handles`) and

    def build_consumer(settings: MySettings, app: FastAPI) -> Consumer:
        consumer = service_consumer(settings, app, group=SERVICE, streams=["orders"], schema=SCHEMA)
        consumer.include(sys.modules[__name__], mailer=Mailer(settings))
        return consumer

    run_consumer = consumer_task(build_consumer)   # a background task of the app
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from fastapi import FastAPI
from redis.exceptions import RedisError

from marcus_messaging import Consumer
from marcus_web.app import BackgroundTask
from marcus_web.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)

log = logging.getLogger("marcus.web.consumers")

START_RETRY_FIRST_S = 0.5
START_RETRY_MAX_S = 10.0


def service_consumer(
    settings: ServiceSettings,
    app: FastAPI,
    *,
    group: str,
    streams: Sequence[str],
    schema: str,
) -> Consumer:
    """The group's consumer on the app's engine, with the CONSUMER_* settings; `streams`
    names the producing services (`"catalog"` reads `events.catalog`), `schema` holds the
    service's ledger tables."""
    return Consumer(
        group=group,
        streams=streams,
        engine=app.state.engine,
        schema=schema,
        redis_url=settings.redis_url,
        names=settings.stream_names(),
        settings=settings.consumer_settings(),
    )


def consumer_task(
    build: Callable[[S, FastAPI], Consumer],
    *,
    before_start: Callable[[FastAPI], Awaitable[None]] | None = None,
) -> BackgroundTask:
    """A background task for `create_service_app`: runs the consumer `build` makes until
    the app stops (in-flight handlers finish), or nothing when CONSUMER_ENABLED=false.

    `before_start` runs once first (a check that should stop the service at start rather
    than at the first event). A consumer that cannot start because Redis is away retries
    with a backoff (0.5 s doubling to 10 s) instead of leaving the process serving HTTP
    with nobody reading its group: the events wait in the stream, nothing is lost."""

    async def run_consumer(app: FastAPI, stop: asyncio.Event) -> None:
        settings: S = app.state.settings
        if not settings.consumer_enabled:
            return
        if before_start is not None:
            await before_start(app)
        delay = START_RETRY_FIRST_S
        while not stop.is_set():
            try:
                async with build(settings, app).running():
                    delay = START_RETRY_FIRST_S
                    await stop.wait()
            except (RedisError, OSError) as exc:
                log.warning("consumer cannot start (%s); retrying in %.1fs", exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, START_RETRY_MAX_S)

    return run_consumer
