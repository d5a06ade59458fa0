"""Composition root of the scheduler: admin routes, the leader loop with APScheduler,
and the consumer of outcome reports, on the shared service app."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from marcus_web.app import BackgroundTask, create_service_app
from scheduler.api.routes import router
from scheduler.consumer import run_consumer
from scheduler.scheduling import Scheduling, replica_name
from scheduler.settings import SERVICE, SchedulerSettings


def create_app(settings: SchedulerSettings | None = None) -> FastAPI:
    settings = settings or SchedulerSettings()
    jobs = settings.jobs()
    holder = replica_name()
    background: list[BackgroundTask] = []

    if settings.scheduler_enabled:

        async def run_scheduling(app: FastAPI, stop: asyncio.Event) -> None:
            scheduling = Scheduling(
                settings, app.state.engine, app.state.sessions, jobs, holder, app.state.redis
            )
            app.state.scheduling = scheduling
            await scheduling.run(stop)

        background.append(run_scheduling)

    background.append(run_consumer)

    app = create_service_app(
        settings,
        service=SERVICE,
        title="Marcus scheduler",
        description=(
            "Fires the nightly index rebuild, the views refresh and the abandoned-cart "
            "reminders once per fire time, "
            "whatever the number of replicas, and trims the streams to their retention. "
            "Admin only."
        ),
        routers=[router],
        background=background,
    )
    app.state.jobs = jobs
    app.state.housekeeping = settings.housekeeping()
    app.state.holder = holder
    return app
