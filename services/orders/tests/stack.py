"""Marcus services as real processes for end-to-end tests, with an SMTP catcher.

`python -m <service> serve` in a subprocess per replica (`tests.support.processes`),
pointed at the test run's database, Redis and stream prefix; the notifier sends to a mail
catcher (the real one a developer runs) served in the test's own event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from scripts.mailcatcher import CatcherHandler, Mailbox, start_catcher
from tests.support.auth import SECRET, bearer
from tests.support.databases import migrated, truncate_tables
from tests.support.processes import FAST_CONSUMERS, ServiceProcess, service_env, stop_all
from tests.support.servers import free_port, wait_for

__all__ = [
    "SECRET",
    "MailCatcher",
    "Process",
    "Shop",
    "Stack",
    "stack_fixtures",
    "token",
    "truncate",
    "wait_read_model",
]

SERVICES = ("catalog", "orders", "notifier")


async def truncate(database_url: str) -> None:
    """Tests share one database per run: start each from empty tables of the three
    services (outboxes too, so no relay publishes an earlier test's events)."""
    await truncate_tables(database_url, *SERVICES)


def token(subject: str, *roles: str) -> dict[str, str]:
    return bearer(subject, *roles, secret=SECRET)


class Process(ServiceProcess):
    """A `ServiceProcess` built as `Process(service, port, env, log)`."""

    def __init__(self, service: str, port: int, env: Mapping[str, str], log: Path) -> None:
        super().__init__(service, env, log, port)


@dataclass
class Stack:
    database_url: str
    redis_url: str
    prefix: str
    folder: Path
    smtp_port: int = field(default_factory=free_port)
    processes: list[Process] = field(default_factory=list)

    def env(self, service: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return service_env(
            self.database_url,
            self.redis_url,
            self.prefix,
            secret=SECRET,
            extra={"SMTP_PORT": str(self.smtp_port), **FAST_CONSUMERS, **(extra or {})},
        )

    def start(self, service: str, **extra: str) -> Process:
        index = sum(p.service == service for p in self.processes)
        log = self.folder / f"{service}-{index}.log"
        process = Process(service, free_port(), self.env(service, extra), log)
        process.start()
        self.processes.append(process)
        return process

    def first(self, service: str) -> Process:
        return next(p for p in self.processes if p.service == service)

    def stop_all(self) -> None:
        stop_all(self.processes)


def stack_fixtures():  # type: ignore[no-untyped-def]
    """The fixtures `saga_database` (session-scoped: the three services migrated) and
    `stack` (a `Stack` on emptied tables, its processes stopped after the test); a
    conftest exposes them with `saga_database, stack = stack_fixtures()`."""
    import pytest

    @pytest.fixture(scope="session")
    def saga_database(database_url: str) -> str:
        return migrated(database_url, *SERVICES)

    @pytest.fixture
    async def stack(
        saga_database: str, redis_url: str, stream_prefix: str, tmp_path: Path
    ) -> AsyncIterator[Stack]:
        await truncate(saga_database)
        stack = Stack(saga_database, redis_url, stream_prefix, tmp_path)
        try:
            yield stack
        finally:
            stack.stop_all()

    return saga_database, stack


class MailCatcher:
    """The real catcher on a free port, in this event loop; `handler` may be wrapped."""

    def __init__(self, folder: Path, port: int) -> None:
        self.mailbox = Mailbox(folder)
        self.port = port
        self.handler: Any = CatcherHandler(self.mailbox)
        self._server: Any = None

    async def start(self) -> None:
        self._server = await start_catcher(self.handler, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


class Shop:
    """HTTP shortcuts over the processes: catalog setup, orders, polling."""

    def __init__(self, catalog_url: str, orders_url: str) -> None:
        self.catalog = httpx.AsyncClient(base_url=catalog_url, timeout=30)
        self.orders = httpx.AsyncClient(base_url=orders_url, timeout=30)
        self.admin = token("ops", "admin")

    async def aclose(self) -> None:
        await self.catalog.aclose()
        await self.orders.aclose()

    async def product(self, *, sku: str, price: str, stock: int, name: str = "") -> dict:
        category = await self.catalog.post(
            "/api/v1/categories", json={"slug": f"c-{sku.lower()}", "name": sku}, headers=self.admin
        )
        assert category.status_code == 201, category.text
        product = await self.catalog.post(
            "/api/v1/products",
            json={
                "sku": sku,
                "name": name or f"Product {sku}",
                "price": price,
                "currency": "EUR",
                "category_id": category.json()["id"],
                "stock": stock,
            },
            headers=self.admin,
        )
        assert product.status_code == 201, product.text
        return product.json()

    async def stock(self, product_id: str) -> int:
        response = await self.catalog.get(f"/api/v1/products/{product_id}")
        return int(response.json()["stock"])

    async def place(
        self,
        customer: str,
        lines: list[tuple[str, int]] | list[tuple[str, int, list[str]]],
        *,
        email: str = "",
        key: str = "",
    ) -> httpx.Response:
        """Lines are (product id, quantity) or (product id, quantity, option ids)."""
        headers = token(customer) | ({"Idempotency-Key": key} if key else {})
        body = {
            "email": email or f"{customer}@example.com",
            "lines": [
                {"product_id": line[0], "quantity": line[1]}
                | ({"options": list(line[2])} if len(line) > 2 else {})
                for line in lines
            ],
        }
        return await self.orders.post("/api/v1/orders", json=body, headers=headers)

    async def order(self, customer: str, order_id: str) -> httpx.Response:
        return await self.orders.get(f"/api/v1/orders/{order_id}", headers=token(customer))

    async def wait_status(
        self, customer: str, order_id: str, *statuses: str, within: float = 60
    ) -> dict:
        async def reached() -> dict | None:
            body = (await self.order(customer, order_id)).json()
            return body if body.get("status") in statuses else None

        return await wait_for(reached, within=within, what=f"order {order_id} in {statuses}")


async def wait_read_model(database_url: str, *product_ids: str, within: float = 30) -> None:
    """Until the orders service's read model knows these products (it consumes
    `events.catalog` asynchronously; an order placed before would be refused with 422)."""
    engine = create_async_engine(database_url)

    async def known() -> bool:
        async with engine.connect() as conn:
            count = (
                await conn.execute(
                    text("SELECT count(*) FROM orders.products WHERE id = ANY(:ids)"),
                    {"ids": list(product_ids)},
                )
            ).scalar_one()
        return int(count) == len(set(product_ids))

    try:
        await wait_for(known, within=within, what="products in the orders read model")
    finally:
        await engine.dispose()
