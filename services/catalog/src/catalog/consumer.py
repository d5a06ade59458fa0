"""The catalog's consumer group: the stock saga on `events.orders`, snapshot requests on
`events.indexer`.

Placed orders get checked, priced and their stock reserved (or are rejected), cancelled
orders get it back. The indexer's snapshot requests are answered on their own snapshot
stream (`catalog.snapshots`).
It runs as a background task of the catalog app, so every catalog replica is a member of
the one `catalog` group and the orders are shared between them.
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from catalog import saga, snapshots
from catalog.allocation import LineRequest
from catalog.settings import SCHEMA, SERVICE, CatalogSettings
from catalog.storage.read_cache import ReadCache
from catalog.storage.uow import COMMITTED
from marcus_contracts import StreamNames
from marcus_contracts.events import orders as order_events
from marcus_contracts.events.indexer import SnapshotRequested
from marcus_eventstore import CommandContext
from marcus_messaging import Consumer, ConsumerSettings, HandlerContext


def command_context(ctx: HandlerContext) -> CommandContext:
    """The saga's events continue the order's correlation; the order event caused them."""
    envelope = ctx.envelope
    return CommandContext(
        correlationid=envelope.correlationid or envelope.subject,
        causationid=str(envelope.id),
        traceparent=envelope.traceparent,
    )


def build_consumer(settings: CatalogSettings, app: FastAPI) -> Consumer:
    consumer = Consumer(
        group=SERVICE,
        streams=["orders", "indexer"],
        engine=app.state.engine,
        schema=SCHEMA,
        redis_url=settings.redis_url,
        names=StreamNames(settings.stream_prefix),
        settings=ConsumerSettings(
            batch=settings.saga_batch,
            max_deliveries=settings.saga_max_deliveries,
            reclaim_min_idle_ms=settings.saga_reclaim_min_idle_ms,
            backoff_base_ms=settings.saga_backoff_base_ms,
        ),
    )

    @consumer.handler(order_events.OrderPlaced.event_type)
    async def on_placed(ctx: HandlerContext) -> None:
        event = ctx.event
        assert isinstance(event, order_events.OrderPlaced)
        lines = [
            LineRequest(line.product_id, line.quantity, tuple(o.option_id for o in line.options))
            for line in event.lines
        ]
        command = saga.ReserveStock(order_id=event.order_id, lines=lines, currency=event.currency)
        await saga.reserve_stock(command, ctx.session, command_context(ctx))

    @consumer.handler(order_events.OrderCancelled.event_type)
    async def on_cancelled(ctx: HandlerContext) -> None:
        event = ctx.event
        assert isinstance(event, order_events.OrderCancelled)
        command = saga.ReleaseStock(order_id=event.order_id)
        await saga.release_stock(command, ctx.session, command_context(ctx))

    @consumer.handler(SnapshotRequested.event_type)
    async def on_snapshot_requested(ctx: HandlerContext) -> None:
        event = ctx.event
        assert isinstance(event, SnapshotRequested)
        await snapshots.publish_snapshot(
            app.state.engine,
            app.state.redis,
            StreamNames(settings.stream_prefix),
            event,
            page=settings.snapshot_page,
            ttl_s=settings.snapshot_ttl_s,
        )

    return consumer


async def run_saga_consumer(app: FastAPI, stop: asyncio.Event) -> None:
    """Background task of the catalog app: consume until the app shuts down."""
    settings: CatalogSettings = app.state.settings
    if not settings.saga_enabled:
        return
    cache: ReadCache | None = getattr(app.state, "read_cache", None)
    if cache is not None:  # this task and the consumer's own tasks inherit it
        COMMITTED.set(
            lambda _, envelopes: cache.evict_changes((e.subject, e.type) for e in envelopes)
        )
    async with build_consumer(settings, app).running():
        await stop.wait()
