"""The catalog's unit of work: its event store, projector and repository."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.storage.projector import CatalogProjector
from catalog.storage.repository import Repository
from catalog.storage.tables import event_store
from marcus_contracts import Envelope
from marcus_eventstore import EventStore, UnitOfWork

_TAKE_XID = text("SELECT pg_current_xact_id()")

Committed = Callable[[int, list[Envelope]], None]
"""Called after commit with the last position (the consistency token) and the events."""


class CatalogUnitOfWork(UnitOfWork[Repository]):
    store = EventStore(event_store)
    projector = CatalogProjector()
    unique_messages = {
        "uq_products_sku": "a product with this sku already exists",
        "uq_categories_slug": "a category with this slug already exists",
    }
    on_commit: Committed | None = None

    def make_repository(self, session: AsyncSession) -> Repository:
        return Repository(session)

    async def commit(self) -> list[Envelope]:
        """Takes the transaction id before the events' positions are allocated: the read
        cache's follower relies on it to tell a rolled-back position from a running one
        (see `catalog.storage.follower`)."""
        if any(aggregate.pending for aggregate in self.repo.seen):
            await self.session.execute(_TAKE_XID)
        envelopes = await super().commit()
        if self.positions and self.on_commit is not None:
            self.on_commit(self.positions[-1], envelopes)
        return envelopes
