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
from collections.abc import Callable, Sequence
from typing import TypeVar

from fastapi import FastAPI

from marcus_messaging import Consumer
from marcus_web.app import BackgroundTask
from marcus_web.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)


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
) -> BackgroundTask:
    """A background task for `create_service_app`: runs the consumer `build` makes until
    the app stops (in-flight handlers finish), or nothing when CONSUMER_ENABLED=false."""

    async def run_consumer(app: FastAPI, stop: asyncio.Event) -> None:
        settings: S = app.state.settings
        if not settings.consumer_enabled:
            return
        async with build(settings, app).running():
            await stop.wait()

    return run_consumer
