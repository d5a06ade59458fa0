"""Composition root of the orders service: routes, the catalog consumer, the stuck check."""

from __future__ import annotations

from fastapi import FastAPI

from marcus_web.app import create_service_app
from orders.api.cart import router as cart_router
from orders.api.routes import router
from orders.consumer import run_consumer
from orders.settings import SERVICE, OrdersSettings
from orders.stuck import run_stuck_check


def create_app(settings: OrdersSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or OrdersSettings(),
        service=SERVICE,
        title="Marcus orders",
        description=(
            "Place, list, cancel and ship orders; a cart per customer and its checkout. "
            "Customers see only their own orders and cart; shipping needs `admin`."
        ),
        routers=[router, cart_router],
        background=[run_consumer, run_stuck_check],
    )
