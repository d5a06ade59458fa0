"""In-memory fakes of the notifier's delivery repository and unit of work (cosmicpython
style), for unit tests of its command handlers: deliveries are rows in a dict, and only
a commit makes a change (and its events) visible, as with the real transaction."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from uuid import UUID

from marcus_contracts import Event
from marcus_eventstore import Aggregate
from notifier.storage.repository import Outcome


@dataclass
class Row:
    """What the handlers read and write of a `deliveries` row."""

    status: str = "sending"
    attempts: int = 1
    version: int = 0
    outcome_recorded: bool = False
    last_error: str | None = None


@dataclass
class FakeStore:
    rows: dict[UUID, Row] = field(default_factory=dict)
    events: list[tuple[UUID, int, Event]] = field(default_factory=list)

    def of_type(self, kind: type[Any]) -> list[Any]:
        return [event for _, _, event in self.events if isinstance(event, kind)]


class FakeRepository:
    def __init__(self, rows: dict[UUID, Row]) -> None:
        self.rows = rows
        self.seen: list[Aggregate] = []

    def add(self, aggregate: Aggregate) -> None:
        self.seen.append(aggregate)

    async def sent_outcome(self, delivery_id: UUID) -> Outcome | None:
        row = self.rows.get(delivery_id)
        if row is None or row.status != "sent" or row.outcome_recorded:
            return None
        row.outcome_recorded, row.version = True, row.version + 1
        return Outcome(row.version - 1, row.attempts)

    async def given_up(self, delivery_id: UUID, error: str) -> Outcome:
        row = self.rows[delivery_id]
        row.status, row.last_error, row.version = "failed", error[:2000], row.version + 1
        return Outcome(row.version - 1, row.attempts)


class FakeUnitOfWork:
    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.commits = 0

    async def __aenter__(self) -> FakeUnitOfWork:
        self.repo = FakeRepository(copy.deepcopy(self.store.rows))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None  # uncommitted changes are dropped with the repository

    async def commit(self) -> list[Event]:
        recorded: list[Event] = []
        for aggregate in self.repo.seen:
            for event in aggregate.pending:
                aggregate.version += 1
                self.store.events.append((aggregate.id, aggregate.version, event))
                recorded.append(event)
            aggregate.pending.clear()
        self.store.rows = self.repo.rows
        self.commits += 1
        return recorded
