"""Composition root of the catalog service: its routes on the shared service app."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from catalog.api.configurator import install_configuration_errors
from catalog.api.configurator import router as configurator_router
from catalog.api.routes import router
from catalog.consumer import run_consumer
from catalog.settings import SCHEMA, SERVICE, CatalogSettings
from catalog.storage.follower import CommitFollower
from catalog.storage.read_cache import ReadCache
from marcus_eventstore import libpq_dsn
from marcus_web.app import create_service_app


async def run_read_cache_follower(app: FastAPI, stop: asyncio.Event) -> None:
    """Keeps this process's read cache in step with committed catalog events."""
    follower: CommitFollower | None = getattr(app.state, "read_cache_follower", None)
    if follower is not None:
        await follower.run(stop)


def create_app(settings: CatalogSettings | None = None) -> FastAPI:
    settings = settings or CatalogSettings()
    app = create_service_app(
        settings,
        service=SERVICE,
        title="Marcus catalog",
        description="Categories, products (simple, configurable, preconfigured), stock, and"
        " the quote of a configuration. Reads and quotes are public; writes need `admin`.",
        routers=[router, configurator_router],
        background=[run_consumer, run_read_cache_follower],
    )
    install_configuration_errors(app)
    if settings.read_cache:
        cache = ReadCache(
            settings.read_cache_size, settings.read_cache_max_lag, settings.read_cache_pages
        )
        app.state.read_cache = cache
        app.state.read_cache_follower = CommitFollower(
            cache,
            libpq_dsn(settings.database_url),
            SCHEMA,
            poll_interval=settings.read_cache_poll_interval,
        )
    return app
