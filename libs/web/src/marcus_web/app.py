"""The FastAPI application every service starts from.

It owns the plumbing each service would otherwise repeat: the engine and session
factory, Redis, token verification, problem+json errors (domain errors included),
/healthz /readyz /metrics, the operations API of the service's consumer group
(`marcus_web.admin`), the outbox relay of the service's schema, and any other
background task (a consumer) tied to the app's lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from datetime import timedelta
from typing import Any

import redis.asyncio as aioredis
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from marcus_contracts import StreamNames
from marcus_eventstore import (
    ConcurrencyError,
    Conflict,
    DomainError,
    NotFound,
    OutboxRelay,
    RelaySettings,
    VersionMismatch,
    libpq_dsn,
)
from marcus_messaging.connections import RedisTimeouts, redis_client
from marcus_messaging.pruning import prune_ledger, run_periodically
from marcus_web.admin import admin_router
from marcus_web.auth import TokenVerifier
from marcus_web.idempotency import prune_idempotency_keys
from marcus_web.limits import InputLimitsMiddleware
from marcus_web.observability import Check, install_observability
from marcus_web.openapi import install_honest_openapi
from marcus_web.ownership import CONSUMES
from marcus_web.problems import install_problem_handlers, problem_response
from marcus_web.settings import ServiceSettings

log = logging.getLogger("marcus.web")

BackgroundTask = Callable[[FastAPI, asyncio.Event], Coroutine[Any, Any, None]]
"""Runs until the event is set (the app shuts down); e.g. a consumer or the relay."""

DOMAIN_STATUSES: list[tuple[type[Exception], int, str]] = [
    (NotFound, 404, "Not Found"),
    (Conflict, 409, "Conflict"),
    (VersionMismatch, 412, "Precondition Failed"),
    (ConcurrencyError, 412, "Precondition Failed"),
    (DomainError, 422, "Unprocessable Content"),
]


def make_engine(settings: ServiceSettings) -> AsyncEngine:
    return create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_pre_ping=True,
        # A failed statement's error never carries its parameters (a customer's chat text,
        # an address): they would reach logs and tracebacks (issue 19, finding 8).
        hide_parameters=True,
    )


def make_relay(settings: ServiceSettings, service: str, redis: aioredis.Redis) -> OutboxRelay:
    """The relay publishing `service`'s schema to `events.<service>`."""
    return OutboxRelay(
        RelaySettings(
            dsn=libpq_dsn(settings.database_url),
            schema=service,
            stream=StreamNames(settings.stream_prefix).events(service),
            batch_size=settings.relay_batch_size,
            poll_interval=settings.relay_poll_interval,
            maxlen=settings.stream_maxlen,
        ),
        redis,
    )


def install_domain_errors(app: FastAPI) -> None:
    for exc_type, code, title in DOMAIN_STATUSES:

        async def handler(
            request: Request, exc: Exception, code: int = code, title: str = title
        ) -> JSONResponse:
            detail = str(exc)
            if isinstance(exc, ConcurrencyError):
                detail = "The resource was changed by another request; reload and retry."
            return problem_response(request, code, title, detail)

        app.add_exception_handler(exc_type, handler)


def pruning_task(
    prune: Callable[[], Awaitable[int]], interval_s: float, what: str
) -> BackgroundTask:
    """A background task that prunes every `interval_s` (`run_periodically`)."""

    async def run_pruning(app: FastAPI, stop: asyncio.Event) -> None:
        await run_periodically(prune, interval_s=interval_s, stop=stop, what=what)

    return run_pruning


def create_service_app(
    settings: ServiceSettings,
    *,
    service: str,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    relay: bool = True,
    ledger: bool = True,
    background: Sequence[BackgroundTask] = (),
    checks: Mapping[str, Check] | None = None,
) -> FastAPI:
    """A service's app; the relay publishes the schema named like the service, and the
    consumer ledger of that schema (`ledger`: it has one) and its `idempotency_keys` (if
    the schema has that table) are pruned periodically."""
    engine = make_engine(settings)
    redis = redis_client(
        settings.redis_url,
        RedisTimeouts(
            socket_timeout_s=settings.redis_socket_timeout_s,
            connect_timeout_s=settings.redis_connect_timeout_s,
            health_check_interval_s=settings.redis_health_check_interval_s,
        ),
    )
    tasks: list[BackgroundTask] = list(background)
    if relay and settings.relay_enabled:

        async def run_relay(app: FastAPI, stop: asyncio.Event) -> None:
            await make_relay(settings, service, redis).run(stop)

        tasks.insert(0, run_relay)
    if ledger and settings.ledger_prune_interval_s > 0:
        retention = timedelta(seconds=settings.ledger_retention_s)
        tasks.append(
            pruning_task(
                lambda: prune_ledger(engine, service, retention),
                settings.ledger_prune_interval_s,
                f"ledger of {service} older than {retention}",
            )
        )
    if settings.idempotency_prune_interval_s > 0:
        ttl = timedelta(seconds=settings.idempotency_key_ttl_s)
        tasks.append(
            pruning_task(
                lambda: prune_idempotency_keys(engine, service, ttl),
                settings.idempotency_prune_interval_s,
                f"idempotency keys of {service} older than {ttl}",
            )
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        running = [asyncio.create_task(task(app, stop)) for task in tasks]
        try:
            yield
        finally:
            stop.set()
            for outcome in await asyncio.gather(*running, return_exceptions=True):
                if isinstance(outcome, BaseException):
                    log.error("background task of %s failed: %r", service, outcome)
            await redis.aclose()
            await engine.dispose()

    app = FastAPI(title=title, version="1.0.0", description=description, lifespan=lifespan)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = async_sessionmaker(engine, expire_on_commit=False)
    app.state.redis = redis
    app.state.token_verifier = TokenVerifier(settings)

    async def check_db() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def check_redis() -> None:
        await redis.ping()

    install_problem_handlers(app)
    install_domain_errors(app)
    app.add_middleware(InputLimitsMiddleware, limit=settings.max_body_bytes)
    readiness: dict[str, Check] = {"postgres": check_db, "redis": check_redis, **(checks or {})}
    install_observability(app, service, readiness)
    for router in routers:
        app.include_router(router)
    if service in CONSUMES:
        names = StreamNames(settings.stream_prefix)
        app.include_router(admin_router(service, CONSUMES[service], readiness, names))
    install_honest_openapi(app)
    return app
