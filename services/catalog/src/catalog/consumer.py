"""The catalog's consumer group: the stock saga on `events.orders`, snapshot requests on
`events.indexer`.

Placed orders get checked, priced and their stock reserved (or are rejected), cancelled
orders get it back (`handlers.reserve_stock` / `release_stock`, in the ledger's
transaction). The indexer's snapshot requests are answered on their own snapshot stream
(`catalog.snapshots`). It runs as a background task of the catalog app, so every catalog
replica is a member of the one `catalog` group and the orders are shared between them.
"""

from __future__ import annotations

import sys

import redis.asyncio as aioredis
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog import handlers, snapshots
from catalog.allocation import LineRequest
from catalog.settings import SCHEMA, SERVICE, CatalogSettings
from catalog.storage.read_cache import ReadCache
from catalog.storage.uow import CatalogUnitOfWork, in_savepoint
from marcus_contracts.events.indexer import SnapshotRequested
from marcus_contracts.events.orders import OrderCancelled, OrderPlaced
from marcus_eventstore import CommandContext
from marcus_messaging import Consumer, HandlerContext, handles
from marcus_web.consumers import consumer_task, service_consumer


@handles(OrderPlaced)
async def on_order_placed(
    event: OrderPlaced, ctx: HandlerContext, *, read_cache: ReadCache | None
) -> None:
    lines = [
        LineRequest(line.product_id, line.quantity, tuple(o.option_id for o in line.options))
        for line in event.lines
    ]
    command = handlers.ReserveStock(order_id=event.order_id, lines=lines, currency=event.currency)
    await in_savepoint(
        ctx.session, lambda: handlers.reserve_stock(command, _unit_of_work(ctx, read_cache))
    )


@handles(OrderCancelled)
async def on_order_cancelled(
    event: OrderCancelled, ctx: HandlerContext, *, read_cache: ReadCache | None
) -> None:
    command = handlers.ReleaseStock(order_id=event.order_id)
    await in_savepoint(
        ctx.session, lambda: handlers.release_stock(command, _unit_of_work(ctx, read_cache))
    )


@handles(SnapshotRequested)
async def on_snapshot_requested(
    event: SnapshotRequested,
    ctx: HandlerContext,
    *,
    engine: AsyncEngine,
    redis: aioredis.Redis,
    settings: CatalogSettings,
) -> None:
    await snapshots.publish_snapshot(
        engine,
        redis,
        settings.stream_names(),
        event,
        page=settings.snapshot_page,
        ttl_s=settings.snapshot_ttl_s,
    )


def _unit_of_work(ctx: HandlerContext, cache: ReadCache | None) -> CatalogUnitOfWork:
    """A unit of work in the ledger's transaction; the order event caused its command.
    Once the owner commits, this replica's read cache drops the stock it changed."""
    uow = CatalogUnitOfWork.joining(ctx.session, CommandContext.caused_by(ctx.envelope))
    if cache is not None:
        uow.on_commit = lambda _, envelopes: cache.evict_changes(
            (e.subject, e.type) for e in envelopes
        )
    return uow


def build_consumer(settings: CatalogSettings, app: FastAPI) -> Consumer:
    consumer = service_consumer(
        settings, app, group=SERVICE, streams=["orders", "indexer"], schema=SCHEMA
    )
    consumer.include(
        sys.modules[__name__],
        read_cache=getattr(app.state, "read_cache", None),
        engine=app.state.engine,
        redis=app.state.redis,
        settings=settings,
    )
    return consumer


run_consumer = consumer_task(build_consumer)
