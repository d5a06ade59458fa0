"""The indexer's consumer group: catalog product events and rebuild requests.

Handlers only touch PostgreSQL, in the ledger's transaction (effects exactly once):
a product event updates the product's fold in `documents` and queues the product for
the syncer, which embeds queued products in batches; a rebuild request becomes a run
keyed by the request's event id, so a request delivered twice is one rebuild.

Product events are folded per transaction (`BatchFold`), not per event: the first
handler of a batch locks every product the batch touches in one go, each handler applies
its event in memory, and one callback before the commit writes the changed states and
queues them (a fixed handful of statements per batch instead of four per event, which
bounded the consumer's throughput and its scale-out).
"""

from __future__ import annotations

import asyncio
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from indexer.domain import PRODUCT_EVENT_TYPES, ProductState, apply, product_id_of
from indexer.settings import GROUP, SCHEMA, IndexerSettings
from indexer.storage import documents as documents_store
from indexer.storage import runs as runs_store
from indexer.worker import RebuildWorker
from marcus_contracts import StreamNames
from marcus_contracts.events.scheduler import IndexRebuildRequested
from marcus_messaging import Consumer, HandlerContext, TransactionScope
from marcus_telemetry import current_traceparent

FOLD_KEY = "indexer.fold"


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
        fold = await BatchFold.of(ctx, settings.fault_hold_fold_seconds)
        await fold.apply(ctx, product_id)

    @consumer.handler("scheduler.index.rebuild_requested")
    async def on_rebuild_requested(ctx: HandlerContext) -> None:
        event = ctx.event
        assert isinstance(event, IndexRebuildRequested)
        await runs_store.request(ctx.session, ctx.envelope.id, f"scheduler:{event.requested_by}")
        if worker is not None:
            worker.wake.set()  # early wake-up; the worker polls anyway (after the commit)

    return consumer


class BatchFold:
    """The product states one transaction touches: locked and loaded once, changed in
    memory event by event (stream order), written back and queued once, before commit."""

    def __init__(
        self, session: AsyncSession, states: dict[UUID, ProductState], hold: float = 0.0
    ) -> None:
        self.session = session
        self.states = states
        self.hold = hold
        self.changed: dict[UUID, str | None] = {}
        """Changed products (in order of first change) -> traceparent of the first event
        that changed them (the sync span continues that trace)."""

    @classmethod
    async def of(cls, ctx: HandlerContext, hold: float = 0.0) -> BatchFold:
        """The transaction's fold; the first call locks every product of its events."""
        scope: TransactionScope = ctx.transaction
        fold = scope.state.get(FOLD_KEY)
        if fold is None:
            ids = {pid for event in scope.events if (pid := product_id_of(event)) is not None}
            fold = cls(ctx.session, await documents_store.lock_many(ctx.session, ids), hold)
            scope.state[FOLD_KEY] = fold
            scope.before_commit(fold.write)
        assert isinstance(fold, BatchFold)
        return fold

    async def apply(self, ctx: HandlerContext, product_id: UUID) -> None:
        state = self.states.get(product_id)
        if state is None:  # not among the scope's events (a context built by hand)
            state = (await documents_store.lock_many(self.session, [product_id]))[product_id]
        new = apply(state, ctx.envelope, ctx.event)
        if new is not None:
            self.states[product_id] = new
            self.changed.setdefault(product_id, current_traceparent())

    async def write(self) -> None:
        """The changed states, and their sync queue entries (one per product)."""
        if self.hold:  # fault tests: work in flight that a kill can catch
            await asyncio.sleep(self.hold)
        if not self.changed:
            return
        await documents_store.save_many(self.session, [self.states[p] for p in self.changed])
        await documents_store.queue_many(self.session, list(self.changed.items()))
