"""The catalog's unit of work: its event store, projector and repository."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import ClassVar, TypeVar

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.storage.projector import CatalogProjector
from catalog.storage.repository import Repository
from catalog.storage.tables import event_store
from marcus_contracts import Envelope
from marcus_eventstore import ConcurrencyError, EventStore, UnitOfWork

log = logging.getLogger("catalog.saga")

RETRIES = 3
T = TypeVar("T")

_TAKE_XID = text("SELECT pg_current_xact_id()")

Committed = Callable[[int, list[Envelope]], None]
"""Called after commit with the last position (the consistency token) and the events."""

ReadBack = Callable[[AsyncSession], Awaitable[None]]
"""Reads a write's answer in the write's own transaction (see `CatalogUnitOfWork.read_back`)."""


class CatalogUnitOfWork(UnitOfWork[Repository]):
    store = EventStore(event_store)
    projector: ClassVar[CatalogProjector] = CatalogProjector()
    unique_messages = {
        "uq_products_sku": "a product with this sku already exists",
        "uq_categories_slug": "a category with this slug already exists",
    }
    on_commit: Committed | None = None
    """Called once the events are committed (the HTTP write's consistency token, the
    read cache's eviction of what the command changed)."""
    read_back: ReadBack | None = None
    """Run at commit, after the events are projected and before the transaction commits:
    an HTTP write reads its answer (the projected row) on the connection that wrote it,
    instead of a second connection's checkout, ping, BEGIN, SELECT and COMMIT after it.
    The answer is then exactly the state this write committed."""

    def make_repository(self, session: AsyncSession) -> Repository:
        return Repository(session)

    async def _project(self, envelopes: list[Envelope]) -> None:
        """With `CatalogProjector.apply_all`: a reservation's per-product stock events
        become one statement (one round trip per order instead of one per product)."""
        await self.projector.apply_all(self.session, envelopes)

    async def commit(self) -> list[Envelope]:
        """Takes the transaction id before the events' positions are allocated: the read
        cache's follower relies on it to tell a rolled-back position from a running one
        (see `catalog.storage.follower`). A transaction that locked a product row has
        one already (taken before any position, by the lock), so it asks for none."""
        if not self.repo.locked_rows and any(aggregate.pending for aggregate in self.repo.seen):
            await self.session.execute(_TAKE_XID)
        envelopes = await self.record()
        if self.read_back is not None:
            await self.read_back(self.session)
        envelopes += await super().commit()
        hook = self.on_commit
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


async def in_savepoint(session: AsyncSession, attempt: Callable[[], Awaitable[T]]) -> T:
    """Run `attempt` (a command on a fresh unit of work joining `session`) in a savepoint;
    on ConcurrencyError (the event store saw a concurrent append despite the row locks)
    roll back to it and try again, instead of failing the consumer's whole batch."""
    for tries in range(1, RETRIES + 1):
        savepoint = await session.begin_nested()
        try:
            result = await attempt()
        except ConcurrencyError:
            await savepoint.rollback()
            if tries == RETRIES:
                raise
            log.info("concurrent write to a product; retrying the saga step (%d)", tries)
            continue
        await savepoint.commit()
        return result
    raise AssertionError("unreachable")
