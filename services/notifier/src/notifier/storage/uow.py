"""The notifier's unit of work: its event store; deliveries are written by `deliveries`."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from marcus_contracts import Envelope
from marcus_eventstore import Aggregate, EventStore, UnitOfWork
from notifier.storage.tables import event_store


class NoProjections:
    """The notifier's events describe deliveries that `deliveries` already records."""

    tables: Sequence[Table] = ()

    async def apply(self, session: AsyncSession, envelope: Envelope) -> None:
        return None


class Aggregates:
    def __init__(self) -> None:
        self.seen: list[Aggregate] = []

    def add(self, aggregate: Aggregate) -> None:
        self.seen.append(aggregate)


class NotifierUnitOfWork(UnitOfWork[Aggregates]):
    store = EventStore(event_store)
    projector = NoProjections()

    def make_repository(self, session: AsyncSession) -> Aggregates:
        return Aggregates()
