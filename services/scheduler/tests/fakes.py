"""In-memory fakes of the scheduler's store and repository, for unit tests of the command
handlers; the unit of work is the shared one (`tests/support/fakes.py`)."""

from __future__ import annotations

import copy
from uuid import UUID

from marcus_eventstore import Aggregate
from scheduler.domain import JobRun
from tests.support import fakes


class FakeStore(fakes.FakeStore):
    """What is committed: the runs, and every event in order."""

    def __init__(self) -> None:
        super().__init__()
        self.runs: dict[UUID, JobRun] = {}

    def keep(self, aggregate: Aggregate) -> None:
        if isinstance(aggregate, JobRun):
            self.runs[aggregate.id] = copy.deepcopy(aggregate)


class FakeRepository(fakes.FakeRepository[FakeStore]):
    async def run(self, run_id: UUID, *, lock: bool = False) -> JobRun | None:
        return self.loaded(self.store.runs.get(run_id))


class FakeUnitOfWork(fakes.FakeUnitOfWork[FakeStore, FakeRepository]):
    session = None
    """No database: a fence given to `fire_job` is called with this."""

    def make_repository(self) -> FakeRepository:
        return FakeRepository(self.store)
