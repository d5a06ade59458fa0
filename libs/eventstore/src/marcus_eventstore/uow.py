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
from marcus_telemetry import current_traceparent


@dataclass(frozen=True)
class CommandContext:
    """Where a command came from, copied into every event it records.

    `traceparent` is the caller's (an HTTP header, a consumed event's); when a span is
    active (tracing on), the events get the current span's context instead, so that a
    consumer's span becomes a child of the request or handler that recorded the event.
    """

    correlationid: str | None = None
    causationid: str | None = None
    traceparent: str | None = None

    @classmethod
    def from_request(cls, request: HasHeaders) -> CommandContext:
        """A command an HTTP request asked for: the request's id caused it, and it
        continues the caller's correlation (`X-Correlation-ID`), or starts one at the
        request (`X-Request-ID`, which the gateway and the services' middleware set)."""
        headers = request.headers
        request_id = headers.get("x-request-id")
        return cls(
            correlationid=headers.get("x-correlation-id") or request_id,
            causationid=request_id,
            traceparent=headers.get("traceparent"),
        )

    @classmethod
    def caused_by(cls, envelope: Envelope) -> CommandContext:
        """A command a consumed event caused: the event is the cause, and the command
        continues the event's correlation, or starts one at the event when it had none
        (the same rule as for requests: a correlation begins at its first message)."""
        return cls(
            correlationid=envelope.correlationid or str(envelope.id),
            causationid=str(envelope.id),
            traceparent=envelope.traceparent,
        )


class HasHeaders(Protocol):
    """What `CommandContext.from_request` reads: a Starlette `Request`, or anything with
    its case-insensitive `headers` mapping."""

    @property
    def headers(self) -> Mapping[str, str]: ...


class Repository(Protocol):
    seen: list[Aggregate]
    """Every aggregate handed out or added: the unit of work collects their events."""


A = TypeVar("A", bound=Aggregate)


class AggregateRepository:
    """What every service's repository shares: the unit of work's session, and `seen`,
    the aggregates whose events its commit appends (loaded ones via `remember`, new ones
    via `add`). A service's repository adds its queries."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.seen: list[Aggregate] = []

    def add(self, aggregate: Aggregate) -> None:
        self.seen.append(aggregate)

    def remember(self, aggregate: A) -> A:
        """`aggregate`, remembered for the commit (a repository returns what it loaded
        through this)."""
        self.seen.append(aggregate)
        return aggregate


R = TypeVar("R", bound=Repository)


class Transaction:
    """One PostgreSQL transaction for one command: its own (a request), or one a consumer
    owns and commits (`joining`: the event that caused the command and its effects are
    recorded atomically). Leaving the block without `commit()` rolls its own transaction
    back; a joined one is left to its owner."""

    session: AsyncSession

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession] | None,
        *,
        session: AsyncSession | None = None,
    ) -> None:
        if (sessions is None) == (session is None):
            raise ValueError("give a session factory, or a session to join (not both)")
        self._sessions = sessions
        self._joined = session

    @classmethod
    def joining(cls, session: AsyncSession) -> Self:
        """Inside a transaction someone else owns: `commit()` leaves it to the owner."""
        return cls(None, session=session)

    def opened(self, session: AsyncSession) -> None:
        """Called with the session once the block is entered (repositories go here)."""

    async def __aenter__(self) -> Self:
        if self._joined is not None:
            self.session = self._joined
        else:
            assert self._sessions is not None
            self.session = self._sessions()
            await self.session.begin()
        self.opened(self.session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._joined is not None:
            return  # the owner of the transaction ends it
        if self.session.in_transaction():
            await self.session.rollback()
        await self.session.close()

    async def commit(self) -> object:
        """Commit its own transaction; a joined one only flushes (the owner commits)."""
        if self._joined is None:
            await self.session.commit()
        else:
            await self.session.flush()
        return None


class UnitOfWork(Transaction, Generic[R]):
    store: ClassVar[EventStore]
    projector: ClassVar[Projector]
    unique_messages: ClassVar[Mapping[str, str]] = {}
    """Unique constraint name -> message of the Conflict (409) its violation becomes."""

    repo: R
    positions: list[int]
    """Global positions of the events this unit of work appended, in order (empty
    before its first `record()` or `commit()`)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession] | None,
        context: CommandContext | None = None,
        *,
        session: AsyncSession | None = None,
    ) -> None:
        super().__init__(sessions, session=session)
        self.context = context or CommandContext()
        self.positions = []

    @classmethod
    def joining(cls, session: AsyncSession, context: CommandContext | None = None) -> Self:
        """A unit of work inside a transaction someone else owns (a consumer's ledger
        transaction): `commit()` appends and projects but does not commit, and leaving
        the block neither rolls back nor closes. The owner commits or rolls back all of it,
        so the event that caused the command and its effects are recorded atomically."""
        return cls(None, context, session=session)

    def make_repository(self, session: AsyncSession) -> R:
        raise NotImplementedError

    def opened(self, session: AsyncSession) -> None:
        self.repo = self.make_repository(session)

    async def commit(self) -> list[Envelope]:
        envelopes = await self.record()
        try:
            await super().commit()
        except IntegrityError as exc:
            self._raise_conflict(exc)
            raise
        return envelopes

    async def record(self) -> list[Envelope]:
        """Append and project the pending events in the transaction, without ending it:
        a command can then read what it wrote (its answer) in the same transaction,
        before `commit()` commits it (which appends only what is pending since)."""
        envelopes = self._collect()
        if not envelopes:
            return envelopes
        try:
            self.positions += await self.store.append(self.session, envelopes)
            await self._project(envelopes)
        except IntegrityError as exc:
            self._raise_conflict(exc)
            raise
        return envelopes

    async def _project(self, envelopes: list[Envelope]) -> None:
        """Project the appended events, in order. A service may override it to project
        several events in one statement (the catalog's stock reservations)."""
        for envelope in envelopes:
            await self.projector.apply(self.session, envelope)

    def _raise_conflict(self, exc: IntegrityError) -> None:
        """A unique violation `unique_messages` names becomes a Conflict (409)."""
        message = self.unique_messages.get(constraint_of(exc) or "")
        if message:
            raise Conflict(message) from exc

    def _collect(self) -> list[Envelope]:
        envelopes: list[Envelope] = []
        traceparent = current_traceparent() or self.context.traceparent
        for aggregate in self.repo.seen:
            for event in aggregate.pending:
                aggregate.version += 1
                envelope = registry.envelope(
                    event,
                    subject=str(aggregate.id),
                    sequence=aggregate.version,
                    correlationid=self.context.correlationid,
                    causationid=self.context.causationid,
                    traceparent=traceparent,
                )
                event_id = aggregate.event_id(event)
                if event_id is not None:
                    envelope = envelope.model_copy(update={"id": event_id})
                envelopes.append(envelope)
            aggregate.pending.clear()
        return envelopes
