"""In-memory fakes of the notifier's store and delivery repository, for unit tests of its
command handlers: deliveries are rows in a dict the repository works on a copy of; the
unit of work is the shared one (`tests/support/fakes.py`), whose commit keeps the rows."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from uuid import UUID

from notifier.storage.repository import Outcome
from tests.support import fakes


@dataclass
class Row:
    """What the handlers read and write of a `deliveries` row."""

    status: str = "sending"
    attempts: int = 1
    version: int = 0
    outcome_recorded: bool = False
    last_error: str | None = None


class FakeStore(fakes.FakeStore):
    def __init__(self, rows: dict[UUID, Row] | None = None) -> None:
        super().__init__()
        self.rows: dict[UUID, Row] = {} if rows is None else rows


class FakeRepository(fakes.FakeRepository[FakeStore]):
    def __init__(self, store: FakeStore) -> None:
        super().__init__(store)
        self.rows = copy.deepcopy(store.rows)

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


class FakeUnitOfWork(fakes.FakeUnitOfWork[FakeStore, FakeRepository]):
    def make_repository(self) -> FakeRepository:
        return FakeRepository(self.store)

    def keep(self) -> None:
        self.store.rows = self.repo.rows
