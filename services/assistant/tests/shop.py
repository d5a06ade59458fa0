"""The shop around the assistant for chat tests, on real sockets in the test's loop:
catalog (with its stock saga), indexer, orders, scheduler (API only) and the assistant,
on the test run's database, Redis and a Chroma server, with the chat model pointed at a
local OpenAI-compatible fake (or at nothing).

Products go through the catalog API and reach the assistant the way they do in
production (catalog events -> indexer -> Chroma); orders through the orders API (-> the
catalog's reservation -> orders.order.confirmed -> the assistant's consumer).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from marcus_eventstore.migrations import upgrade
from marcus_web.auth import mint_token
from tests.support.servers import serve_app, wait_for
from tests.support.stack import SECRET, common, indexer_settings

SERVICES = ("catalog", "indexer", "orders", "scheduler", "assistant")
TABLES = {
    "catalog": "outbox, events, products, categories, reservations, processed_events,"
    " subject_sequences",
    "indexer": "events, outbox, processed_events, subject_sequences, documents, sync_queue,"
    " collections, indexed, rebuild_runs",
    "orders": "outbox, events, orders, order_lines, products,"
    " idempotency_keys, placement_retries, processed_events, subject_sequences",
    "scheduler": "outbox, events, job_runs, processed_events, subject_sequences",
    "assistant": "outbox, events, sessions, messages, reply_grounding, actions, customer_orders,"
    " purchased_orders,"
    " purchase_lines, co_purchases, product_sales, categories, processed_events,"
    " subject_sequences",
}
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
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            for schema, tables in TABLES.items():
                names = ", ".join(f"{schema}.{t.strip()}" for t in tables.split(","))
                await conn.execute(text(f"TRUNCATE {names} CASCADE"))
            await conn.execute(text("REFRESH MATERIALIZED VIEW assistant.best_sellers"))
    finally:
        await engine.dispose()


def bearer(subject: str, *roles: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(subject, list(roles), secret=SECRET)}"}


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
        slug = f"c-{sku.lower()}"
        category = await self.catalog.post(
            "/api/v1/categories", json={"slug": slug, "name": sku}, headers=self.admin
        )
        assert category.status_code == 201, category.text
        product = await self.catalog.post(
            "/api/v1/products",
            json={
                "sku": sku,
                "name": name,
                "description": description,
                "price": price,
                "currency": "EUR",
                "category_id": category.json()["id"],
                "stock": stock,
            },
            headers=self.admin,
        )
        assert product.status_code == 201, product.text
        return dict(product.json())

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
        engine = create_async_engine(self.database_url)

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
        engine = create_async_engine(self.database_url)

        async def known() -> bool:
            async with engine.connect() as conn:
                found = (
                    await conn.execute(
                        text("SELECT status FROM assistant.customer_orders WHERE order_id = :id"),
                        {"id": order_id},
                    )
                ).scalar_one_or_none()
            return found == status

        try:
            await wait_for(known, within=within, what=f"order {order_id} {status} in the assistant")
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
