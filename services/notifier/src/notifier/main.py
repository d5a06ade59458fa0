"""Composition root of the notifier: health and metrics over HTTP, the consumer of order
and cart events."""

from __future__ import annotations

from fastapi import FastAPI

from marcus_web.app import create_service_app
from notifier.api.admin import router as admin_router
from notifier.consumer import run_consumer
from notifier.settings import SERVICE, NotifierSettings


def create_app(settings: NotifierSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or NotifierSettings(),
        service=SERVICE,
        title="Marcus notifier",
        description=(
            "Order e-mails and abandoned-cart reminders over SMTP; an admin API of recent "
            "e-mails and of its consumer group (no customer-facing API)."
        ),
        routers=[admin_router],
        background=[run_consumer],
    )
