"""The assistant's consumer: its group on `events.orders`, `events.catalog` and
`events.scheduler`.

- `orders.order.*` keep each customer's orders (for the "my orders" tool), each event
  with the status it means; `confirmed`, `shipped` and `delivered` count the order's
  purchases and co-purchase pairs once, `cancelled` takes them out again
  (storage.orders);
- `catalog.category.*` keep the categories the query parser knows (storage.categories;
  the catalog's other events are acknowledged unread);
- `scheduler.views.refresh_requested` refreshes the best-sellers materialized view
  (marcus_eventstore.views).
"""

from __future__ import annotations

import logging
import sys

from fastapi import FastAPI

from assistant.settings import SCHEMA, SERVICE, AssistantSettings
from assistant.storage import categories as categories_store
from assistant.storage import orders as orders_store
from assistant.storage.tables import BEST_SELLERS
from marcus_contracts.events.catalog import CategoryCreated, CategoryUpdated
from marcus_contracts.events.orders import (
    OrderCancelled,
    OrderConfirmed,
    OrderDelivered,
    OrderPlaced,
    OrderRejected,
    OrderShipped,
)
from marcus_contracts.events.scheduler import ViewsRefreshRequested
from marcus_eventstore.views import MaterializedViews
from marcus_messaging import Consumer, HandlerContext, handles
from marcus_web.consumers import consumer_task, service_consumer

log = logging.getLogger("marcus.views")

VIEWS = MaterializedViews(SCHEMA, [BEST_SELLERS])


@handles(OrderPlaced)
async def on_order_placed(event: OrderPlaced, ctx: HandlerContext) -> None:
    await orders_store.upsert_order(ctx.session, ctx.envelope, event, "pending")


@handles(OrderConfirmed)
async def on_order_confirmed(event: OrderConfirmed, ctx: HandlerContext) -> None:
    await orders_store.upsert_order(ctx.session, ctx.envelope, event, "confirmed")
    await orders_store.count_purchase(ctx.session, ctx.envelope, event)


@handles(OrderRejected)
async def on_order_rejected(event: OrderRejected, ctx: HandlerContext) -> None:
    await orders_store.upsert_order(ctx.session, ctx.envelope, event, "rejected")


@handles(OrderCancelled)
async def on_order_cancelled(event: OrderCancelled, ctx: HandlerContext) -> None:
    await orders_store.upsert_order(ctx.session, ctx.envelope, event, "cancelled")
    await orders_store.uncount_purchase(ctx.session, ctx.envelope, event)


@handles(OrderShipped)
async def on_order_shipped(event: OrderShipped, ctx: HandlerContext) -> None:
    """Shipped implies confirmed: counted here too if the confirmation was not."""
    await orders_store.upsert_order(ctx.session, ctx.envelope, event, "shipped")
    await orders_store.count_purchase(ctx.session, ctx.envelope, event)


@handles(OrderDelivered)
async def on_order_delivered(event: OrderDelivered, ctx: HandlerContext) -> None:
    """Delivered implies shipped (so confirmed): counted at most once like them."""
    await orders_store.upsert_order(ctx.session, ctx.envelope, event, "delivered")
    await orders_store.count_purchase(ctx.session, ctx.envelope, event)


@handles(CategoryCreated, CategoryUpdated)
async def on_category_saved(event: CategoryCreated | CategoryUpdated, ctx: HandlerContext) -> None:
    await categories_store.upsert(ctx.session, ctx.envelope, event)


@handles(ViewsRefreshRequested)
async def on_views_refresh_requested(event: ViewsRefreshRequested, ctx: HandlerContext) -> None:
    """Refresh the views the event names that are the assistant's (all when it names
    none), in the ledger's transaction: a redelivered request is skipped."""
    refreshed = await VIEWS.refresh(ctx.session, event.views)
    if refreshed:
        log.info("refreshed %s", ", ".join(refreshed))


def build_consumer(settings: AssistantSettings, app: FastAPI) -> Consumer:
    consumer = service_consumer(
        settings, app, group=SERVICE, streams=["orders", "catalog", "scheduler"], schema=SCHEMA
    )
    consumer.include(sys.modules[__name__])
    return consumer


async def check_views(app: FastAPI) -> None:
    """A view that is missing or cannot be refreshed concurrently stops the consumer at
    start, not at the first refresh an hour later."""
    async with app.state.engine.connect() as conn:
        await VIEWS.check(conn)


run_consumer = consumer_task(build_consumer, before_start=check_views)
