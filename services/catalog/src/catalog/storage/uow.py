"""Unit of work: one command, one PostgreSQL transaction.

On commit the events recorded by every aggregate the command touched are appended to the
event store (with the next sequence of each aggregate), projected into the current-state
tables by the same projector a rebuild uses, and queued for the relay, all atomically.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog.domain import Conflict
from catalog.storage.projector import CatalogProjector
from catalog.storage.repository import Repository
from catalog.storage.tables import event_store
from marcus_contracts import Envelope, registry
from marcus_eventstore import EventStore, constraint_of

UNIQUE_MESSAGES = {
    "uq_products_sku": "a product with this sku already exists",
    "uq_categories_slug": "a category with this slug already exists",
}


@dataclass(frozen=True)
class CommandContext:
    """Where a command came from, copied into every event it records."""

    correlationid: str | None = None
    causationid: str | None = None
    traceparent: str | None = None


class UnitOfWork:
    store = EventStore(event_store)
    projector = CatalogProjector()

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], context: CommandContext | None = None
    ) -> None:
        self._sessions = sessions
        self.context = context or CommandContext()

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._sessions()
        await self.session.begin()
        self.repo = Repository(self.session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.session.in_transaction():
            await self.session.rollback()
        await self.session.close()

    async def commit(self) -> list[Envelope]:
        envelopes = self._collect()
        try:
            await self.store.append(self.session, envelopes)
            for envelope in envelopes:
                await self.projector.apply(self.session, envelope)
            await self.session.commit()
        except IntegrityError as exc:
            message = UNIQUE_MESSAGES.get(constraint_of(exc) or "")
            if message:
                raise Conflict(message) from exc
            raise
        return envelopes

    def _collect(self) -> list[Envelope]:
        envelopes: list[Envelope] = []
        for aggregate in self.repo.seen:
            for event in aggregate.pending:
                aggregate.version += 1
                envelopes.append(
                    registry.envelope(
                        event,
                        subject=str(aggregate.id),
                        sequence=aggregate.version,
                        correlationid=self.context.correlationid,
                        causationid=self.context.causationid,
                        traceparent=self.context.traceparent,
                    )
                )
            aggregate.pending.clear()
        return envelopes
