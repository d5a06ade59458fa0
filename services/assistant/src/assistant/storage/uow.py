"""The assistant's unit of work: its event store, projector and repository."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from assistant.storage.projector import AssistantProjector
from assistant.storage.repository import Repository
from assistant.storage.tables import event_store
from marcus_eventstore import EventStore, UnitOfWork


class AssistantUnitOfWork(UnitOfWork[Repository]):
    store = EventStore(event_store)
    projector = AssistantProjector()

    def make_repository(self, session: AsyncSession) -> Repository:
        return Repository(session)
