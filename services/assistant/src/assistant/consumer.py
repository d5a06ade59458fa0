"""The assistant's consumer: its group on `events.orders`, `events.catalog` and
`events.scheduler`.

- `orders.order.*` keep each customer's orders (for the "my orders" tool);
  `confirmed`/`shipped` count the order's purchases and co-purchase pairs once,
  `cancelled` takes them out again (storage.orders);
- `catalog.category.*` keep the categories the query parser knows (storage.categories;
  the catalog's other events are acknowledged unread);
- `scheduler.views.refresh_requested` refreshes the best-sellers materialized view
  (marcus_eventstore.views).
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from assistant.settings import SCHEMA, SERVICE, AssistantSettings
from assistant.storage import categories as categories_store
from assistant.storage import orders as orders_store
from assistant.storage.tables import BEST_SELLERS
from marcus_contracts import StreamNames
from marcus_contracts.events import orders as order_events
from marcus_contracts.events.catalog import CategoryCreated, CategoryUpdated
from marcus_contracts.events.scheduler import ViewsRefreshRequested
from marcus_eventstore.views import MaterializedViews, refresh_views_handler
from marcus_messaging import Consumer, ConsumerSettings, HandlerContext

VIEWS = MaterializedViews(SCHEMA, [BEST_SELLERS])
ORDER_TYPES = sorted({event.event_type for event in order_events.ALL})
COUNTED = (order_events.OrderConfirmed.event_type, order_events.OrderShipped.event_type)


def build_consumer(settings: AssistantSettings, app: FastAPI) -> Consumer:
    consumer = Consumer(
        group=SERVICE,
        streams=["orders", "catalog", "scheduler"],
        engine=app.state.engine,
        schema=SCHEMA,
        redis_url=settings.redis_url,
        names=StreamNames(settings.stream_prefix),
        settings=ConsumerSettings(
            batch=settings.consumer_batch,
            max_deliveries=settings.consumer_max_deliveries,
            reclaim_min_idle_ms=settings.consumer_reclaim_min_idle_ms,
            backoff_base_ms=settings.consumer_backoff_base_ms,
        ),
    )

    @consumer.handler(*ORDER_TYPES)
    async def on_order(ctx: HandlerContext) -> None:
        event = ctx.event  # any version: read by field (storage.orders)
        await orders_store.upsert_order(ctx.session, ctx.envelope, event)
        if ctx.envelope.type in COUNTED:
            await orders_store.count_purchase(ctx.session, ctx.envelope, event)
        elif ctx.envelope.type == order_events.OrderCancelled.event_type:
            await orders_store.uncount_purchase(ctx.session, ctx.envelope, event)

    @consumer.handler(CategoryCreated.event_type, CategoryUpdated.event_type)
    async def on_category(ctx: HandlerContext) -> None:
        await categories_store.upsert(ctx.session, ctx.envelope, ctx.event)

    consumer.handler(ViewsRefreshRequested.event_type)(refresh_views_handler(VIEWS))
    return consumer


async def run_consumer(app: FastAPI, stop: asyncio.Event) -> None:
    settings: AssistantSettings = app.state.settings
    if not settings.consumer_enabled:
        return
    async with app.state.engine.connect() as conn:
        await VIEWS.check(conn)
    async with build_consumer(settings, app).running():
        await stop.wait()
