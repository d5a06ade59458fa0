"""The shop around the assistant for chat tests, on real sockets in the test's loop:
catalog (with its stock saga), indexer, orders, scheduler (API only) and the assistant,
on the test run's database, Redis and a Chroma server, with the chat model pointed at a
local OpenAI-compatible fake (or at nothing).

Products go through the catalog API and reach the assistant the way they do in
production (catalog events -> indexer -> Chroma); orders through the orders API (-> the
catalog's reservation -> orders.order.confirmed -> the assistant's consumer).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from marcus_eventstore.migrations import upgrade
from tests.support import auth
from tests.support.databases import truncate_tables
from tests.support.processes import FAST_CONSUMERS, service_env
from tests.support.servers import serve_app, wait_for
from tests.support.stack import SECRET, common, indexer_settings

SERVICES = ("catalog", "indexer", "orders", "scheduler", "assistant")
FAST_CONSUMER = {
    "consumer_reclaim_min_idle_ms": 3000,
    "consumer_backoff_base_ms": 200,
}


def migrate(database_url: str) -> None:
    for service in SERVICES:
        upgrade(service, database_url)


async def truncate(database_url: str) -> None:
    """One database per run: each test starts from empty tables (outboxes too, so no
    relay publishes an earlier test's events into this test's streams)."""
    await truncate_tables(database_url, *SERVICES)


def process_env(database_url: str, redis_url: str, prefix: str, **extra: str) -> dict[str, str]:
    """The environment of the shop's services as processes: the search stack's secret,
    the hash embedder, quick consumers, and `extra` (`CHROMA_URL=...`, the assistant's
    model: `CHAT_BASE_URL=...`). No OpenAI key leaks in from the caller's environment."""
    env = service_env(
        database_url,
        redis_url,
        prefix,
        secret=SECRET,
        extra={"EMBEDDER": "hash", **FAST_CONSUMERS, **extra},
    )
    env.pop("OPENAI_API_KEY", None)
    return env


def rebuild_projections(env: dict[str, str]) -> None:
    """`python -m assistant rebuild-projections`, as an operator runs it."""
    subprocess.run(
        [sys.executable, "-m", "assistant", "rebuild-projections"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


def bearer(subject: str, *roles: str) -> dict[str, str]:
    """Headers of `subject` for the shop's services (the search stack's JWT secret)."""
    return auth.bearer(subject, *roles, secret=SECRET)


async def add_product(
    catalog: httpx.AsyncClient,
    *,
    sku: str,
    name: str,
    price: str,
    stock: int = 10,
    description: str = "",
    category_id: str | None = None,
    admin: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A product through the catalog API, by an admin (`admin`: their headers, when the
    catalog runs with another secret than the search stack's); in a category of its own
    (`c-<sku>`) unless `category_id` names one."""
    admin = admin or bearer("ops", "admin")
    if category_id is None:
        category_id = await add_category(catalog, f"c-{sku.lower()}", sku, admin)
    product = await catalog.post(
        "/api/v1/products",
        json={
            "sku": sku,
            "name": name,
            "description": description,
            "price": price,
            "currency": "EUR",
            "category_id": category_id,
            "stock": stock,
        },
        headers=admin,
    )
    assert product.status_code == 201, product.text
    return dict(product.json())


async def add_category(
    catalog: httpx.AsyncClient, slug: str, name: str, admin: dict[str, str] | None = None
) -> str:
    """A category through the catalog API, by an admin; its id."""
    admin = admin or bearer("ops", "admin")
    category = await catalog.post(
        "/api/v1/categories", json={"slug": slug, "name": name}, headers=admin
    )
    assert category.status_code == 201, category.text
    return str(category.json()["id"])


async def read_events(response: httpx.Response) -> AsyncIterator[tuple[str, Any]]:
    """Parse an SSE stream (event + data lines, blank line ends an event)."""
    event, data = "message", []
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield event, json.loads("\n".join(data))
            event, data = "message", []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())


@dataclass
class Shop:
    catalog: httpx.AsyncClient
    orders: httpx.AsyncClient
    scheduler: httpx.AsyncClient
    assistant: httpx.AsyncClient
    database_url: str

    admin = bearer("ops", "admin")

    async def product(
        self, *, sku: str, name: str, price: str, stock: int = 10, description: str = ""
    ) -> dict[str, Any]:
        return await add_product(
            self.catalog, sku=sku, name=name, price=price, stock=stock, description=description
        )

    async def searchable(self, *product_ids: str, within: float = 60) -> None:
        """Until the index holds these products (asked through the assistant itself)."""

        async def indexed() -> bool:
            for product_id in product_ids:
                response = await self.assistant.get(
                    "/api/v1/recommendations",
                    params={"product_id": product_id, "k": 1},
                )
                if response.status_code != 200:
                    return False
            return True

        await wait_for(indexed, within=within, what="products in the search index")

    async def orderable(self, *product_ids: str, within: float = 60) -> None:
        """Until the orders service's read model knows these products."""
        query = "SELECT count(*) FROM orders.products WHERE id = ANY(:ids)"

        async def known() -> bool:
            count = await self.scalar(query, ids=list(product_ids))
            return int(count) == len(set(product_ids))

        await wait_for(known, within=within, what="products in the orders read model")

    async def order(self, customer: str, lines: list[tuple[str, int]]) -> dict[str, Any]:
        """Place an order and wait until the orders service confirmed it."""
        response = await self.orders.post(
            "/api/v1/orders",
            json={
                "email": f"{customer}@example.com",
                "lines": [{"product_id": p, "quantity": q} for p, q in lines],
            },
            headers=bearer(customer),
        )
        assert response.status_code in (200, 201), response.text
        order_id = response.json()["id"]

        async def confirmed() -> dict[str, Any] | None:
            body = (
                await self.orders.get(f"/api/v1/orders/{order_id}", headers=bearer(customer))
            ).json()
            return body if body["status"] in ("confirmed", "rejected") else None

        body = await wait_for(confirmed, within=60, what=f"order {order_id} answered")
        assert body["status"] == "confirmed", body
        return dict(body)

    async def assistant_knows_order(self, order_id: str, status: str, within: float = 60) -> None:
        query = "SELECT status FROM assistant.customer_orders WHERE order_id = :id"

        async def known() -> bool:
            return await self.scalar(query, id=order_id) == status

        await wait_for(known, within=within, what=f"order {order_id} {status} in the assistant")

    async def scalar(self, query: str, **params: Any) -> Any:
        """The one value (or None) a query of the shop's database answers."""
        engine = create_async_engine(self.database_url)
        try:
            async with engine.connect() as conn:
                return (await conn.execute(text(query), params)).scalar_one_or_none()
        finally:
            await engine.dispose()

    async def new_session(self, customer: str) -> str:
        response = await self.assistant.post("/api/v1/chat/sessions", headers=bearer(customer))
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def say(self, customer: str, session_id: str, content: str) -> httpx.Response:
        return await self.assistant.post(
            f"/api/v1/chat/sessions/{session_id}/messages",
            json={"content": content},
            headers=bearer(customer),
        )

    async def metric(self, series: str) -> float:
        """A series of the assistant's /metrics (`name{label="value",...}` as exposed,
        labels in the order the metric declares them); 0 when it is not there. Counters
        are the process's: other tests' calls count too, so compare, or ask for >= 1."""
        for line in (await self.assistant.get("/metrics")).text.splitlines():
            if line.startswith(series + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def stream(
        self, customer: str, session_id: str, content: str
    ) -> AbstractAsyncContextManager[httpx.Response]:
        """`say`, the reply asked for as Server-Sent Events (read with `read_events`)."""
        return self.assistant.stream(
            "POST",
            f"/api/v1/chat/sessions/{session_id}/messages",
            json={"content": content},
            headers=bearer(customer) | {"Accept": "text/event-stream"},
        )

    async def session(self, customer: str, session_id: str) -> dict[str, Any]:
        response = await self.assistant.get(
            f"/api/v1/chat/sessions/{session_id}", headers=bearer(customer)
        )
        assert response.status_code == 200, response.text
        return dict(response.json())


def assistant_settings(
    database_url: str, redis_url: str, prefix: str, chroma_url: str, **chat: Any
):  # type: ignore[no-untyped-def]
    from assistant.settings import AssistantSettings

    return AssistantSettings(
        **common(database_url, redis_url, prefix),  # type: ignore[arg-type]
        chroma_url=chroma_url,
        **FAST_CONSUMER,
        **({"chat_api_key": "test-key", "chat_model": "fake-model", "chat_timeout_s": 10.0} | chat),
    )


OpenShop = Callable[..., AbstractAsyncContextManager[Shop]]
"""The `open_shop` fixture: `async with open_shop(**assistant_settings) as s`."""


@asynccontextmanager
async def shop(
    database_url: str,
    redis_url: str,
    prefix: str,
    chroma_url: str,
    *,
    orders: bool = True,
    **chat: Any,
) -> AsyncIterator[Shop]:
    """The services served in this event loop; `chat` overrides assistant settings
    (`chat_base_url=fake.base_url`, `chat_enabled=False`, ...)."""
    from assistant.main import create_app as assistant_app
    from catalog.main import create_app as catalog_app
    from catalog.settings import CatalogSettings
    from indexer.main import create_app as indexer_app
    from orders.main import create_app as orders_app
    from orders.settings import OrdersSettings
    from scheduler.main import create_app as scheduler_app
    from scheduler.settings import SchedulerSettings

    base = common(database_url, redis_url, prefix)
    async with AsyncExitStack() as stack:

        async def serve(app: Any) -> httpx.AsyncClient:
            url = await stack.enter_async_context(serve_app(app))
            return await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=60))

        catalog = await serve(
            catalog_app(
                CatalogSettings(**base, saga_backoff_base_ms=200, saga_reclaim_min_idle_ms=3000)  # type: ignore[arg-type]
            )
        )
        await serve(indexer_app(indexer_settings(database_url, redis_url, prefix, chroma_url)))
        orders_client = await serve(
            orders_app(OrdersSettings(**base, consumer_enabled=orders, **FAST_CONSUMER))  # type: ignore[arg-type]
        )
        scheduler = await serve(
            scheduler_app(SchedulerSettings(**base, scheduler_enabled=False))  # type: ignore[arg-type]
        )
        shop_urls = {
            "catalog_url": str(catalog.base_url),
            "orders_url": str(orders_client.base_url),
        }
        assistant = await serve(
            assistant_app(
                assistant_settings(
                    database_url, redis_url, prefix, chroma_url, **(shop_urls | chat)
                )
            )
        )
        yield Shop(catalog, orders_client, scheduler, assistant, database_url)
