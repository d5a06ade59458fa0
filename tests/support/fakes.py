"""One in-memory unit of work for every service's command-handler unit tests
(cosmicpython style), following `marcus_eventstore.UnitOfWork`'s contract: entering the
block opens a repository, `commit()` gives every aggregate the repository saw
consecutive versions for its pending events and keeps it, and leaving the block without
a commit drops the changes (the rollback). Aggregates are stored as copies, so only a
commit makes a change (and its events) visible, as with the real transaction.

A service's `tests/fakes.py` keeps only what is its own: the store's tables and the
repository's queries.
"""

from __future__ import annotations

import copy
from types import TracebackType
from typing import Any, Generic, Self, TypeVar
from uuid import UUID

from marcus_contracts import Event
from marcus_eventstore import Aggregate

A = TypeVar("A", bound=Aggregate)


class FakeStore:
    """What is committed: every event in order as (aggregate id, version, event); a
    service's store adds its tables and keeps its aggregates in `keep()`."""

    def __init__(self) -> None:
        self.events: list[tuple[UUID, int, Event]] = []

    def record(self, subject: UUID, sequence: int, event: Event) -> None:
        self.events.append((subject, sequence, event))

    def keep(self, aggregate: Aggregate) -> None:
        """Store a committed aggregate (a copy): nothing by default."""

    def of_type(self, kind: type[Any]) -> list[Any]:
        return [event for _, _, event in self.events if isinstance(event, kind)]

    def types(self) -> list[str]:
        return [event.event_type for _, _, event in self.events]


StoreT = TypeVar("StoreT", bound=FakeStore)


class FakeRepository(Generic[StoreT]):
    """What a unit of work's repository shares: `add()` and `seen`, the aggregates
    whose pending events the commit appends."""

    def __init__(self, store: StoreT) -> None:
        self.store = store
        self.seen: list[Aggregate] = []

    def add(self, aggregate: Aggregate) -> None:
        self.seen.append(aggregate)

    def loaded(self, stored: A | None) -> A | None:
        """A copy of a stored aggregate, seen by this repository (None if absent)."""
        aggregate = copy.deepcopy(stored)
        if aggregate is not None:
            self.seen.append(aggregate)
        return aggregate


RepoT = TypeVar("RepoT", bound=FakeRepository[Any])


class FakeUnitOfWork(Generic[StoreT, RepoT]):
    """`async with uow: ...; await uow.commit()` over a `FakeStore`; `commits` and
    `rollbacks` count the blocks that committed and those left without a commit."""

    repo: RepoT

    def __init__(self, store: StoreT) -> None:
        self.store = store
        self.commits = 0
        self.rollbacks = 0
        self._committed = False

    def make_repository(self) -> RepoT:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        self.repo = self.make_repository()
        self._committed = False
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._committed:
            self.rollbacks += 1  # uncommitted changes are dropped with the repository

    async def commit(self) -> list[Event]:
        recorded: list[Event] = []
        for aggregate in self.repo.seen:
            for event in aggregate.pending:
                aggregate.version += 1
                self.store.record(aggregate.id, aggregate.version, event)
                recorded.append(event)
            aggregate.pending.clear()
            self.store.keep(aggregate)
        self.keep()
        self.commits += 1
        self._committed = True
        return recorded

    def keep(self) -> None:
        """What a commit stores besides the aggregates (claimed keys, rows): nothing by
        default."""
