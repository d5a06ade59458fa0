"""Composition root of the catalog service: its routes on the shared service app."""

from __future__ import annotations

from fastapi import FastAPI

from catalog.api.routes import router
from catalog.consumer import run_saga_consumer
from catalog.settings import SERVICE, CatalogSettings
from marcus_web.app import create_service_app


def create_app(settings: CatalogSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or CatalogSettings(),
        service=SERVICE,
        title="Marcus catalog",
        description="Categories, products and stock. Reads are public; writes need `admin`.",
        routers=[router],
        background=[run_saga_consumer],
    )
