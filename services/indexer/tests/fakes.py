"""In-memory fakes of the indexer's rebuild-runs repository and unit of work
(cosmicpython style), for unit tests of the command handlers: only a commit makes a
request visible, as with the real transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

from indexer.storage.runs import REQUESTED, Run


class FakeRuns:
    """`rebuild_runs` keyed by request id, like its unique index."""

    def __init__(self, committed: dict[UUID, Run]) -> None:
        self.committed = committed
        self.added: dict[UUID, Run] = {}

    async def request(self, request_id: UUID, requested_by: str) -> Run:
        found = self.committed.get(request_id) or self.added.get(request_id)
        if found is None:
            found = self.added[request_id] = Run(
                id=uuid4(), request_id=request_id, requested_by=requested_by,
                status=REQUESTED, requested_at=datetime.now(UTC), started_at=None,
                finished_at=None, collection=None, previous_collection=None, embedder=None,
                documents=None, events_replayed=None, seconds=None, attempts=0, error=None,
                coalesced_into=None,
            )  # fmt: skip
        return found


class FakeUnitOfWork:
    def __init__(self, runs: dict[UUID, Run] | None = None) -> None:
        self.committed: dict[UUID, Run] = {} if runs is None else runs
        self.commits = 0

    async def __aenter__(self) -> FakeUnitOfWork:
        self.runs = FakeRuns(self.committed)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None  # uncommitted requests are dropped with the repository

    async def commit(self) -> None:
        self.committed.update(self.runs.added)
        self.commits += 1
