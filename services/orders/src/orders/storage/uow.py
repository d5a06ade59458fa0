"""The orders unit of work: its event store, projector and repository."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from marcus_eventstore import EventStore, UnitOfWork
from orders.storage.projector import OrdersProjector
from orders.storage.repository import Repository
from orders.storage.tables import event_store


class OrdersUnitOfWork(UnitOfWork[Repository]):
    store = EventStore(event_store)
    projector = OrdersProjector()

    def make_repository(self, session: AsyncSession) -> Repository:
        return Repository(session)
