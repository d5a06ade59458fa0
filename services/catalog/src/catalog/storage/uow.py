"""The catalog's unit of work: its event store, projector and repository."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.storage.projector import CatalogProjector
from catalog.storage.repository import Repository
from catalog.storage.tables import event_store
from marcus_contracts import Envelope
from marcus_eventstore import EventStore, UnitOfWork

_TAKE_XID = text("SELECT pg_current_xact_id()")

Committed = Callable[[int, list[Envelope]], None]
"""Called after commit with the last position (the consistency token) and the events."""

COMMITTED: ContextVar[Committed | None] = ContextVar("catalog_committed", default=None)
"""The hook of units of work that have none of their own: the saga consumer's task sets
it, so stock it changes is evicted from its replica's read cache once committed."""


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
        hook = self.on_commit or COMMITTED.get()
        if not self.positions or hook is None:
            return envelopes
        position = self.positions[-1]
        if self.session is self._joined:  # the owner commits: call the hook after that

            def after_commit(_session: object) -> None:
                hook(position, envelopes)

            event.listen(self.session.sync_session, "after_commit", after_commit, once=True)
        else:
            hook(position, envelopes)
        return envelopes
