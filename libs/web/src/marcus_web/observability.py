"""Health, readiness, Prometheus metrics, request ids and tracing, the same on every service.

`/healthz` says the process is alive; `/readyz` runs the service's dependency checks
(PostgreSQL, Redis, ...) and answers 503 naming what failed, so an orchestrator stops
routing to it; `/metrics` is the Prometheus text format.

Every request has an id: the caller's `X-Request-ID` (the gateway sets one) or a new
one, bound for log lines and returned in the response. With tracing on (see
`marcus_telemetry.configure_tracing`), each request is a SERVER span continuing the
caller's `traceparent`; outgoing httpx calls (Chroma, OpenAI) are CLIENT spans under it.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from opentelemetry import trace
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from marcus_telemetry import bound_request, configure_tracing

Check = Callable[[], Awaitable[Any]]

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests served", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


READINESS_TIMEOUT_S = 2.0


async def run_checks(
    checks: Mapping[str, Check], limit_s: float = READINESS_TIMEOUT_S
) -> dict[str, str]:
    """Each readiness check -> "ok" or "failed: <error type>" (what `/readyz` and the
    admin API's `health` answer)."""
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check(), limit_s)
            results[name] = "ok"
        except Exception as exc:
            results[name] = f"failed: {type(exc).__name__}"
    return results


def health_router(checks: Mapping[str, Check], timeout: float = READINESS_TIMEOUT_S) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Every dependency answers")
    async def readyz() -> JSONResponse:
        results = await run_checks(checks, timeout)
        ok = all(value == "ok" for value in results.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "checks": results},
            status_code=200 if ok else 503,
        )

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


class MetricsMiddleware:
    """Pure ASGI middleware (no BaseHTTPMiddleware overhead): rate and latency per route.

    The labelled children are kept per (method, route, status): `labels()` builds and
    locks on every call, a measurable share of a cached GET."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            key = (scope["method"], getattr(route, "path", "unmatched"), status)
            children = self._children.get(key)
            if children is None:
                method, template, _ = key
                children = (
                    HTTP_REQUESTS.labels(self.service, method, template, str(status)),
                    HTTP_LATENCY.labels(self.service, method, template),
                )
                self._children[key] = children
            children[0].inc()
            children[1].observe(time.perf_counter() - started)


_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")


class RequestIdMiddleware:
    """Keeps the caller's X-Request-ID (if it is a sane token) or makes one; binds it
    for log lines, puts it on the request's span and returns it in the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        raw_id = request_id.encode()

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != b"x-request-id"
                ]
                headers.append((b"x-request-id", raw_id))
                message["headers"] = headers
            await send(message)

        span = trace.get_current_span()
        if span.is_recording():
            span.set_attribute("http.request.header.x-request-id", request_id)
        with bound_request(request_id):
            await self.app(scope, receive, send_wrapper)


def request_id_of(scope: Scope) -> str:
    """The request's id: its valid X-Request-ID header, else a new random one."""
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _VALID_REQUEST_ID.match(candidate):
                return candidate
            break
    return os.urandom(16).hex()  # as random as uuid4().hex, without building a UUID


def install_tracing(app: FastAPI, service: str) -> bool:
    """Trace requests (SERVER spans) and httpx calls, when tracing is configured."""
    if not configure_tracing(service):
        return False
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    def on_request(span: trace.Span, scope: dict[str, Any]) -> None:
        if span.is_recording():
            span.set_attribute("marcus.service", service)

    FastAPIInstrumentor.instrument_app(
        app,
        server_request_hook=on_request,
        excluded_urls="/healthz,/readyz,/metrics",
        exclude_spans=["receive", "send"],
    )
    instrumentor = HTTPXClientInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()
    return True


def install_observability(app: FastAPI, service: str, checks: Mapping[str, Check]) -> None:
    """Health routes, metrics, request ids; then the tracing middleware outermost, so
    everything else (request-id binding, errors, metrics) runs inside the request span."""
    app.include_router(health_router(checks))
    app.add_middleware(MetricsMiddleware, service=service)
    app.add_middleware(RequestIdMiddleware)
    install_tracing(app, service)
