"""The scheduler's unit of work: its event store, projector and repository."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from marcus_eventstore import EventStore, UnitOfWork
from scheduler.storage.projector import SchedulerProjector
from scheduler.storage.repository import Repository
from scheduler.storage.tables import event_store


class SchedulerUnitOfWork(UnitOfWork[Repository]):
    store = EventStore(event_store)
    projector = SchedulerProjector()

    def make_repository(self, session: AsyncSession) -> Repository:
        return Repository(session)
