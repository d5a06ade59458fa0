"""The notifier's unit of work: its event store and the deliveries' outcomes."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from marcus_contracts import Envelope
from marcus_eventstore import EventStore, UnitOfWork
from notifier.storage.repository import DeliveryRepository
from notifier.storage.tables import event_store


class NoProjections:
    """The notifier's events describe deliveries that `deliveries` already records."""

    tables: Sequence[Table] = ()

    async def apply(self, session: AsyncSession, envelope: Envelope) -> None:
        return None


class NotifierUnitOfWork(UnitOfWork[DeliveryRepository]):
    store = EventStore(event_store)
    projector = NoProjections()

    def make_repository(self, session: AsyncSession) -> DeliveryRepository:
        return DeliveryRepository(session)
