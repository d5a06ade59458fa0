"""In-memory fakes of the scheduler's repository and unit of work (cosmicpython style),
for unit tests of the command handlers: runs are stored as copies, and only a commit
makes a change (and its events) visible, as with the real transaction."""

from __future__ import annotations

import copy
from types import TracebackType
from uuid import UUID

from marcus_contracts import Event
from scheduler.domain import JobRun


class FakeStore:
    """What is committed: the runs, and every event in order."""

    def __init__(self) -> None:
        self.runs: dict[UUID, JobRun] = {}
        self.events: list[tuple[UUID, int, Event]] = []


class FakeRepository:
    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.seen: list[JobRun] = []

    def add(self, run: JobRun) -> None:
        self.seen.append(run)

    async def run(self, run_id: UUID, *, lock: bool = False) -> JobRun | None:
        run = copy.deepcopy(self.store.runs.get(run_id))
        if run is not None:
            self.seen.append(run)
        return run


class FakeUnitOfWork:
    session = None
    """No database: a fence given to `fire_job` is called with this."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.commits = 0

    async def __aenter__(self) -> FakeUnitOfWork:
        self.repo = FakeRepository(self.store)
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
        for run in self.repo.seen:
            for event in run.pending:
                run.version += 1
                self.store.events.append((run.id, run.version, event))
                recorded.append(event)
            run.pending.clear()
            self.store.runs[run.id] = copy.deepcopy(run)
        self.commits += 1
        return recorded
