"""Composition root of the storefront: page routers, static files, the API client.

The storefront has no database and reads no stream: every page is built from the public
API through the gateway (`PUBLIC_API_URL`), as the signed-in customer. Page areas add
their router to `ROUTERS`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from marcus_web.auth import TokenVerifier
from marcus_web.observability import install_observability
from storefront.api import cart, catalog, chat, checkout, configurator, ops, orders, search, signin
from storefront.client import make_http
from storefront.csrf import CsrfCookieMiddleware
from storefront.pages import install_error_pages
from storefront.settings import SERVICE, StorefrontSettings

STATIC = Path(__file__).resolve().parent / "static"

ROUTERS: list[APIRouter] = [
    catalog.router,
    search.router,
    configurator.router,
    cart.router,
    checkout.router,
    orders.router,
    chat.router,
    signin.router,
    ops.router,
]
"""Every page area's routes, included in this order (catalog's `/` first)."""


def create_app(settings: StorefrontSettings | None = None) -> FastAPI:
    settings = settings or StorefrontSettings()
    http = make_http(settings.public_api_url, settings.api_timeout_s)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await http.aclose()

    app = FastAPI(
        title="Marcus storefront",
        version="1.0.0",
        description="The shop in a browser (HTML pages; no API of its own).",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.http = http
    app.state.token_verifier = TokenVerifier(settings)

    install_error_pages(app)
    app.add_middleware(CsrfCookieMiddleware, secure=settings.cookie_secure)
    # Ready as soon as it serves: the gateway is both its only caller and the API it
    # calls, so waiting for it would only deadlock a start (compose, or `make up`
    # without nginx). A page built while the API is away says "try again" (503).
    install_observability(app, SERVICE, {})
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in ROUTERS:
        app.include_router(router)
    return app
