"""The indexer's consumer group: catalog product events and rebuild requests.

Handlers only touch PostgreSQL, in the ledger's transaction (effects exactly once):
a product event updates the product's fold in `documents` and queues the product for
the syncer, which embeds queued products in batches; a rebuild request becomes a run
keyed by the request's event id (`handlers.request_rebuild`), so a request delivered
twice is one rebuild.

Product events are folded per transaction (`BatchFold`), not per event: the first
handler of a batch locks every product the batch touches in one go, each handler applies
its event in memory, and one callback before the commit writes the changed states and
queues them (a fixed handful of statements per batch instead of four per event, which
bounded the consumer's throughput and its scale-out).

Only a product whose indexed form (`domain.indexed_form`: its document, or its absence)
changed with some event of the batch is queued: a stock reservation that leaves the
product in stock is folded (the count is kept) but costs the syncer and Chroma nothing
(ADR 0033). The comparison is per event, not batch start against batch end, so a product
sold out and restocked within one batch is still written: a collection a rebuild filled
from a state in between gets the latest one.

The group starts once the runtime is connected (Chroma answers, an active collection
exists), as a background task of the app beside the runtime's own (`run_consumer`).
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING
from uuid import UUID

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from indexer import handlers
from indexer.domain import (
    PRODUCT_EVENTS,
    IndexedForm,
    ProductEvent,
    ProductState,
    apply,
    indexed_form,
    product_id_of,
)
from indexer.settings import SCHEMA, SERVICE, IndexerSettings
from indexer.storage import documents as documents_store
from indexer.storage.uow import IndexerUnitOfWork
from marcus_contracts.events.scheduler import IndexRebuildRequested
from marcus_messaging import Consumer, HandlerContext, TransactionScope, handles
from marcus_telemetry import current_traceparent
from marcus_web.consumers import consumer_task, service_consumer

if TYPE_CHECKING:
    from indexer.runtime import IndexerRuntime

FOLD_KEY = "indexer.fold"


@handles(*PRODUCT_EVENTS)
async def on_product_changed(
    event: ProductEvent, ctx: HandlerContext, *, hold_fold_seconds: float
) -> None:
    """Every product event folds the same way (`domain.apply`) into the batch's fold."""
    fold = await BatchFold.of(ctx, hold_fold_seconds)
    await fold.apply(ctx, event.product_id)


@handles(IndexRebuildRequested)
async def on_index_rebuild_requested(
    event: IndexRebuildRequested, ctx: HandlerContext, *, runtime: IndexerRuntime
) -> None:
    command = handlers.RequestRebuild(ctx.envelope.id, f"scheduler:{event.requested_by}")
    await handlers.request_rebuild(command, IndexerUnitOfWork.joining(ctx.session))
    runtime.wake_worker()  # early wake-up; the worker polls anyway (after the commit)


class BatchFold:
    """The product states one transaction touches: locked and loaded once, changed in
    memory event by event (stream order), written back and queued once, before commit."""

    def __init__(
        self, session: AsyncSession, states: dict[UUID, ProductState], hold: float = 0.0
    ) -> None:
        self.session = session
        self.states = states
        self.hold = hold
        self.folded: set[UUID] = set()
        """Products whose state changed (written back)."""
        self.changed: dict[UUID, str | None] = {}
        """Products whose indexed form changed (in order of first change) -> traceparent
        of the first event that changed it (the sync span continues that trace)."""
        self.forms: dict[UUID, IndexedForm] = {}
        """The indexed form of each product's current state, once computed."""

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
        if new is None:
            return
        self.states[product_id] = new
        self.folded.add(product_id)
        before = self.forms[product_id] if product_id in self.forms else indexed_form(state)
        self.forms[product_id] = after = indexed_form(new)
        if after != before:
            self.changed.setdefault(product_id, current_traceparent())

    async def write(self) -> None:
        """The changed states, and the sync queue entries of those whose indexed form
        changed (one per product)."""
        if self.hold:  # fault tests: work in flight that a kill can catch
            await asyncio.sleep(self.hold)
        if not self.folded:
            return
        await documents_store.save_many(self.session, [self.states[p] for p in self.folded])
        await documents_store.queue_many(self.session, list(self.changed.items()))


def build_consumer(settings: IndexerSettings, app: FastAPI) -> Consumer:
    consumer = service_consumer(
        settings, app, group=SERVICE, streams=["catalog", "scheduler"], schema=SCHEMA
    )
    consumer.include(
        sys.modules[__name__],
        runtime=app.state.indexer,
        hold_fold_seconds=settings.fault_hold_fold_seconds,
    )
    return consumer


_consume = consumer_task(build_consumer)


async def run_consumer(app: FastAPI, stop: asyncio.Event) -> None:
    """Background task of the indexer app: the consumer group, from the moment the
    runtime is connected until the app stops (nothing when CONSUMER_ENABLED=false)."""
    runtime: IndexerRuntime = app.state.indexer
    if await runtime.connected(stop):
        await _consume(app, stop)
