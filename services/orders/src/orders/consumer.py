"""The orders service's consumer: its group on `events.catalog` and `events.scheduler`.

- the catalog's product events and per-product stock moves keep the product read model
  (price, name, stock, configuration) the cart checks and prices lines with; one
  sequence guard per product: an old event never overwrites a newer state;
- `StockAllocated` / `StockRejected` answer the saga: confirm pending orders at the
  catalog's prices, or reject them (and put a rejected checkout's lines back into the
  customer's cart);
- the scheduler's `CartRemindersRequested` runs the abandoned-cart job's orders side
  (`orders.reminders`).
Other events are acknowledged and ignored.
"""

from __future__ import annotations

import sys

from fastapi import FastAPI

from marcus_contracts.events.catalog import (
    OptionStockReleased,
    OptionStockReserved,
    ProductCreated,
    ProductDeleted,
    ProductUpdated,
    StockAdjusted,
    StockAllocated,
    StockRejected,
    StockReleased,
    StockReserved,
)
from marcus_contracts.events.scheduler import CartRemindersRequested
from marcus_eventstore import CommandContext
from marcus_messaging import Consumer, HandlerContext, handles
from marcus_web.consumers import consumer_task, service_consumer
from orders import handlers, reminders
from orders.settings import SCHEMA, SERVICE, OrdersSettings
from orders.storage import read_model
from orders.storage.uow import OrdersUnitOfWork

SCOPE_PRODUCTS = "products"
"""The sequence guard's scope: one sequence per catalog product, whatever the event."""


@handles(ProductCreated, ProductUpdated)
async def on_product_saved(event: ProductCreated | ProductUpdated, ctx: HandlerContext) -> None:
    """Both carry the product's whole state: insert or overwrite its row."""
    if await ctx.advance(scope=SCOPE_PRODUCTS):
        await read_model.upsert_product(ctx.session, ctx.envelope, event)


@handles(ProductDeleted)
async def on_product_deleted(event: ProductDeleted, ctx: HandlerContext) -> None:
    if await ctx.advance(scope=SCOPE_PRODUCTS):
        await read_model.mark_deleted(ctx.session, ctx.envelope, event)


@handles(StockAdjusted, StockReserved, StockReleased)
async def on_stock_changed(
    event: StockAdjusted | StockReserved | StockReleased, ctx: HandlerContext
) -> None:
    """Each carries the product's new stock: written in the guard's statement (two
    of these per ordered line make them the consumer's most frequent write)."""
    await ctx.advance_and(read_model.stock_update(ctx.envelope, event), scope=SCOPE_PRODUCTS)


@handles(OptionStockReserved, OptionStockReleased)
async def on_option_stock_changed(
    event: OptionStockReserved | OptionStockReleased, ctx: HandlerContext
) -> None:
    """Each carries every option's new stock and the product's derived one."""
    if await ctx.advance(scope=SCOPE_PRODUCTS):
        await read_model.set_option_stock(ctx.session, ctx.envelope, event)


@handles(StockAllocated)
async def on_stock_allocated(event: StockAllocated, ctx: HandlerContext) -> None:
    await handlers.record_allocation(event, _unit_of_work(ctx))


@handles(StockRejected)
async def on_stock_rejected(event: StockRejected, ctx: HandlerContext) -> None:
    await handlers.record_rejection(event, _unit_of_work(ctx))


@handles(CartRemindersRequested)
async def on_cart_reminders_requested(event: CartRemindersRequested, ctx: HandlerContext) -> None:
    await reminders.remind_idle_carts(event, _unit_of_work(ctx))


def _unit_of_work(ctx: HandlerContext) -> OrdersUnitOfWork:
    """A unit of work in the ledger's transaction (the event is marked processed if and
    only if its effect commits); the consumed event caused its command."""
    return OrdersUnitOfWork.joining(ctx.session, CommandContext.caused_by(ctx.envelope))


def build_consumer(settings: OrdersSettings, app: FastAPI) -> Consumer:
    consumer = service_consumer(
        settings, app, group=SERVICE, streams=["catalog", "scheduler"], schema=SCHEMA
    )
    consumer.include(sys.modules[__name__])
    return consumer


run_consumer = consumer_task(build_consumer)
