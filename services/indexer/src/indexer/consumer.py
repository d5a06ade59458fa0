"""The indexer's consumer group: catalog product events and rebuild requests.

Handlers only touch PostgreSQL, in the ledger's transaction (effects exactly once):
a product event updates the product's fold in `documents` and queues the product for
the syncer, which embeds queued products in batches; a rebuild request becomes a run
keyed by the request's event id, so a request delivered twice is one rebuild.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from indexer.domain import PRODUCT_EVENT_TYPES, apply, product_id_of
from indexer.settings import GROUP, SCHEMA, IndexerSettings
from indexer.storage import documents as documents_store
from indexer.storage import runs as runs_store
from indexer.worker import RebuildWorker
from marcus_contracts import StreamNames
from marcus_contracts.events.scheduler import IndexRebuildRequestedV1
from marcus_messaging import Consumer, HandlerContext


def build_consumer(
    settings: IndexerSettings, engine: AsyncEngine, worker: RebuildWorker | None = None
) -> Consumer:
    consumer = Consumer(
        group=GROUP,
        streams=["catalog", "scheduler"],
        engine=engine,
        schema=SCHEMA,
        redis_url=settings.redis_url,
        names=StreamNames(settings.stream_prefix),
        settings=settings.consumer_settings(),
    )

    @consumer.handler(*PRODUCT_EVENT_TYPES)
    async def on_product_event(ctx: HandlerContext) -> None:
        product_id = product_id_of(ctx.event)
        if product_id is None:
            return
        state = await documents_store.load_for_update(ctx.session, product_id)
        new = apply(state, ctx.envelope, ctx.event)
        if new is not None:
            await documents_store.save(ctx.session, new)

    @consumer.handler("scheduler.index.rebuild_requested")
    async def on_rebuild_requested(ctx: HandlerContext) -> None:
        event = ctx.event
        assert isinstance(event, IndexRebuildRequestedV1)
        await runs_store.request(ctx.session, ctx.envelope.id, f"scheduler:{event.requested_by}")
        if worker is not None:
            worker.wake.set()  # early wake-up; the worker polls anyway (after the commit)

    return consumer
