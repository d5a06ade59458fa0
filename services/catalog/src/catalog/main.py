"""Composition root of the catalog service: its routes on the shared service app."""

from __future__ import annotations

from fastapi import FastAPI

from catalog.api.configurator import install_configuration_errors
from catalog.api.configurator import router as configurator_router
from catalog.api.routes import router
from catalog.consumer import run_saga_consumer
from catalog.settings import SERVICE, CatalogSettings
from marcus_web.app import create_service_app


def create_app(settings: CatalogSettings | None = None) -> FastAPI:
    app = create_service_app(
        settings or CatalogSettings(),
        service=SERVICE,
        title="Marcus catalog",
        description="Categories, products (simple, configurable, preconfigured), stock, and"
        " the quote of a configuration. Reads and quotes are public; writes need `admin`.",
        routers=[router, configurator_router],
        background=[run_saga_consumer],
    )
    install_configuration_errors(app)
    return app
