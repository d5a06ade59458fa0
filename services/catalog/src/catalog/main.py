"""Composition root of the catalog service: wires settings, database, Redis, relay, API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from catalog.api.routes import router
from catalog.domain import Conflict, DomainError, NotFound, VersionMismatch
from catalog.settings import SCHEMA, SERVICE, CatalogSettings
from marcus_contracts import StreamNames
from marcus_eventstore import ConcurrencyError, OutboxRelay, RelaySettings
from marcus_web.auth import TokenVerifier
from marcus_web.observability import install_observability
from marcus_web.problems import install_problem_handlers, problem_response

log = logging.getLogger("marcus.catalog")


def libpq_dsn(database_url: str) -> str:
    """The SQLAlchemy URL without its driver suffix, as psycopg's own connect wants it."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def make_engine(settings: CatalogSettings) -> AsyncEngine:
    return create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_pre_ping=True,
    )


def make_relay(settings: CatalogSettings, redis: aioredis.Redis) -> OutboxRelay:
    return OutboxRelay(
        RelaySettings(
            dsn=libpq_dsn(settings.database_url),
            schema=SCHEMA,
            stream=StreamNames(settings.stream_prefix).events(SERVICE),
            batch_size=settings.relay_batch_size,
            poll_interval=settings.relay_poll_interval,
            maxlen=settings.stream_maxlen,
        ),
        redis,
    )


def _install_domain_errors(app: FastAPI) -> None:
    statuses: list[tuple[type[Exception], int, str]] = [
        (NotFound, 404, "Not Found"),
        (Conflict, 409, "Conflict"),
        (VersionMismatch, 412, "Precondition Failed"),
        (ConcurrencyError, 412, "Precondition Failed"),
        (DomainError, 422, "Unprocessable Content"),
    ]
    for exc_type, code, title in statuses:

        async def handler(
            request: Request, exc: Exception, code: int = code, title: str = title
        ) -> JSONResponse:
            detail = str(exc)
            if isinstance(exc, ConcurrencyError):
                detail = "The resource was changed by another request; reload and retry."
            return problem_response(request, code, title, detail)

        app.add_exception_handler(exc_type, handler)


def create_app(settings: CatalogSettings | None = None) -> FastAPI:
    settings = settings or CatalogSettings()
    engine = make_engine(settings)
    redis = aioredis.from_url(settings.redis_url)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        relay_task = None
        if settings.relay_enabled:
            relay_task = asyncio.create_task(make_relay(settings, redis).run(stop))
        try:
            yield
        finally:
            stop.set()
            if relay_task is not None:
                await relay_task
            await redis.aclose()
            await engine.dispose()

    app = FastAPI(
        title="Marcus catalog",
        version="1.0.0",
        description="Categories, products and stock. Reads are public; writes need `admin`.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = async_sessionmaker(engine, expire_on_commit=False)
    app.state.token_verifier = TokenVerifier(settings)

    async def check_db() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def check_redis() -> None:
        await redis.ping()

    install_problem_handlers(app)
    _install_domain_errors(app)
    install_observability(app, SERVICE, {"postgres": check_db, "redis": check_redis})
    app.include_router(router)
    return app
