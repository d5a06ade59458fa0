"""Marcus services as real processes for end-to-end tests, with an SMTP catcher.

`python -m <service> serve` in a subprocess per replica, pointed at the test run's
database, Redis and stream prefix; the notifier sends to a mail catcher (the real one a
developer runs, `notifier.mailcatcher`) served in the test's own event loop.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from marcus_eventstore.migrations import upgrade
from marcus_web.auth import mint_token
from notifier.mailcatcher import CatcherHandler, Mailbox, start_catcher
from tests.support.servers import free_port, wait_for

SECRET = "e2e-tests-secret-0123456789abcdef"
SERVICES = ("catalog", "orders", "notifier")

TABLES = {
    "catalog": "outbox, events, products, categories, reservations, processed_events,"
    " subject_sequences, parts, options, incompatibilities, price_rules, preset_options,"
    " option_reservations",
    "orders": "outbox, events, orders, order_lines, products,"
    " idempotency_keys, placement_retries, processed_events, subject_sequences, carts,"
    " cart_lines",
    "notifier": "outbox, events, deliveries, processed_events, subject_sequences",
}

FAST = {
    "RELAY_POLL_INTERVAL": "0.2",
    "LOG_LEVEL": "warning",
    "SAGA_BACKOFF_BASE_MS": "200",
    "SAGA_RECLAIM_MIN_IDLE_MS": "3000",
    "CONSUMER_BACKOFF_BASE_MS": "200",
    "CONSUMER_BACKOFF_MAX_MS": "1000",
    "CONSUMER_RECLAIM_MIN_IDLE_MS": "3000",
}


def migrate(database_url: str) -> None:
    for service in SERVICES:
        upgrade(service, database_url)


async def truncate(database_url: str) -> None:
    """Tests share one database per run: start each from empty tables (outboxes too, so
    no relay publishes an earlier test's events into this test's streams)."""
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            for schema, tables in TABLES.items():
                names = ", ".join(f"{schema}.{t.strip()}" for t in tables.split(","))
                await conn.execute(text(f"TRUNCATE {names}"))
    finally:
        await engine.dispose()


def token(subject: str, *roles: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(subject, list(roles), secret=SECRET)}"}


@dataclass
class Process:
    service: str
    port: int
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.service, "serve", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def ready(self, within: float = 120) -> None:
        async def answers() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.service} exited: {self.log.read_text()[-3000:]}")
            try:
                async with httpx.AsyncClient() as client:
                    return (await client.get(f"{self.url}/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await wait_for(answers, within=within, what=f"{self.service} ready")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs (no ack, no commit in flight)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@dataclass
class Stack:
    database_url: str
    redis_url: str
    prefix: str
    folder: Path
    smtp_port: int = field(default_factory=free_port)
    processes: list[Process] = field(default_factory=list)

    def env(self, service: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "STREAM_PREFIX": self.prefix,
            "JWT_SECRET": SECRET,
            "SMTP_PORT": str(self.smtp_port),
            **FAST,
            **(extra or {}),
        }

    def start(self, service: str, **extra: str) -> Process:
        index = sum(p.service == service for p in self.processes)
        process = Process(
            service,
            free_port(),
            self.env(service, extra),
            self.folder / f"{service}-{index}.log",
        )
        process.start()
        self.processes.append(process)
        return process

    def first(self, service: str) -> Process:
        return next(p for p in self.processes if p.service == service)

    def stop_all(self) -> None:
        for process in self.processes:
            process.stop()


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
