"""Unit of work: one command, one PostgreSQL transaction (cosmicpython's pattern).

On commit, the events recorded by every aggregate the command touched are appended to
the event store with the next sequence of each aggregate, projected into the
current-state tables by the same projector a rebuild uses, and queued for the relay,
all atomically. A service subclasses it with its store, projector and repository.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import ClassVar, Generic, Protocol, Self, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marcus_contracts import Envelope, registry
from marcus_eventstore.aggregate import Aggregate, Conflict
from marcus_eventstore.projections import Projector
from marcus_eventstore.store import EventStore, constraint_of


@dataclass(frozen=True)
class CommandContext:
    """Where a command came from, copied into every event it records."""

    correlationid: str | None = None
    causationid: str | None = None
    traceparent: str | None = None


class Repository(Protocol):
    seen: list[Aggregate]
    """Every aggregate handed out or added: the unit of work collects their events."""


R = TypeVar("R", bound=Repository)


class UnitOfWork(Generic[R]):
    store: ClassVar[EventStore]
    projector: ClassVar[Projector]
    unique_messages: ClassVar[Mapping[str, str]] = {}
    """Unique constraint name -> message of the Conflict (409) its violation becomes."""

    repo: R

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], context: CommandContext | None = None
    ) -> None:
        self._sessions = sessions
        self.context = context or CommandContext()

    def make_repository(self, session: AsyncSession) -> R:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        self.session = self._sessions()
        await self.session.begin()
        self.repo = self.make_repository(self.session)
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
            message = self.unique_messages.get(constraint_of(exc) or "")
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
