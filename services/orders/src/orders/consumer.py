"""The orders service's consumer: its group on `events.catalog` and `events.scheduler`.

- `catalog.product.created|updated|deleted` and the per-product stock moves
  (`catalog.stock.adjusted|reserved|released`, `catalog.option_stock.reserved|released`)
  keep the product read model (price, name, stock, configuration) the cart checks and
  prices lines with; one sequence guard per product: an old event never overwrites a
  newer state;
- `catalog.stock.allocated|rejected` answer the saga: confirm pending orders at the
  catalog's prices, or reject them (and put a rejected checkout's lines back into the
  customer's cart).
On `events.scheduler`, `scheduler.carts.reminders_requested` runs the abandoned-cart
job's orders side (`orders.reminders`). Other events are acknowledged and ignored.
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from marcus_contracts import StreamNames
from marcus_contracts.events import catalog as catalog_events
from marcus_contracts.events import scheduler as scheduler_events
from marcus_eventstore import CommandContext
from marcus_messaging import Consumer, ConsumerSettings, HandlerContext
from orders import handlers, reminders
from orders.settings import SCHEMA, SERVICE, OrdersSettings
from orders.storage import read_model
from orders.storage.uow import OrdersUnitOfWork

SCOPE_PRODUCTS = "products"


def _unit_of_work(ctx: HandlerContext) -> OrdersUnitOfWork:
    envelope = ctx.envelope
    context = CommandContext(
        correlationid=envelope.correlationid,
        causationid=str(envelope.id),
        traceparent=envelope.traceparent,
    )
    return OrdersUnitOfWork.joining(ctx.session, context)


def build_consumer(settings: OrdersSettings, app: FastAPI) -> Consumer:
    consumer = Consumer(
        group=SERVICE,
        streams=["catalog", "scheduler"],
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

    @consumer.handler(
        catalog_events.ProductCreated.event_type, catalog_events.ProductUpdated.event_type
    )
    async def on_product(ctx: HandlerContext) -> None:
        if await ctx.advance(scope=SCOPE_PRODUCTS):
            await read_model.upsert_product(ctx.session, ctx.envelope, ctx.event)

    @consumer.handler(catalog_events.ProductDeleted.event_type)
    async def on_product_deleted(ctx: HandlerContext) -> None:
        if await ctx.advance(scope=SCOPE_PRODUCTS):
            await read_model.mark_deleted(ctx.session, ctx.envelope, ctx.event)

    @consumer.handler(
        catalog_events.StockAdjusted.event_type,
        catalog_events.StockReserved.event_type,
        catalog_events.StockReleased.event_type,
    )
    async def on_stock(ctx: HandlerContext) -> None:
        if await ctx.advance(scope=SCOPE_PRODUCTS):
            await read_model.set_stock(ctx.session, ctx.envelope, ctx.event)

    @consumer.handler(
        catalog_events.OptionStockReserved.event_type,
        catalog_events.OptionStockReleased.event_type,
    )
    async def on_option_stock(ctx: HandlerContext) -> None:
        assert isinstance(
            ctx.event, catalog_events.OptionStockReserved | catalog_events.OptionStockReleased
        )
        if await ctx.advance(scope=SCOPE_PRODUCTS):
            await read_model.set_option_stock(ctx.session, ctx.envelope, ctx.event)

    @consumer.handler(catalog_events.StockAllocated.event_type)
    async def on_allocated(ctx: HandlerContext) -> None:
        assert isinstance(ctx.event, catalog_events.StockAllocated)
        await handlers.record_allocation(ctx.event, _unit_of_work(ctx))

    @consumer.handler(catalog_events.StockRejected.event_type)
    async def on_rejected(ctx: HandlerContext) -> None:
        assert isinstance(ctx.event, catalog_events.StockRejected)
        await handlers.record_rejection(ctx.event, _unit_of_work(ctx))

    @consumer.handler(scheduler_events.CartRemindersRequested.event_type)
    async def on_cart_reminders_requested(ctx: HandlerContext) -> None:
        assert isinstance(ctx.event, scheduler_events.CartRemindersRequested)
        await reminders.remind_idle_carts(ctx.event, _unit_of_work(ctx))

    return consumer


async def run_consumer(app: FastAPI, stop: asyncio.Event) -> None:
    settings: OrdersSettings = app.state.settings
    if not settings.consumer_enabled:
        return
    async with build_consumer(settings, app).running():
        await stop.wait()
