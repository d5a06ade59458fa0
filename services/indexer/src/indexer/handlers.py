"""Command handlers: what the indexer is asked to do, each in one unit of work.

Its one command is a rebuild request, from an admin (`POST /api/v1/admin/index/rebuild`),
from the scheduler (`scheduler.index.rebuild_requested`, in the consumer's transaction),
from `python -m indexer reindex`, or from a start with another embedder configured. A
request becomes a rebuild run keyed by its request id, so a request delivered twice is
one run; the rebuild worker (`indexer.worker`) runs it. Everything else the indexer does
follows events (`indexer.consumer`) or runs in the background (sync, rebuild, alias).
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from indexer.storage.runs import Run
from indexer.storage.uow import IndexerUnitOfWork as UnitOfWork
from marcus_eventstore import DomainError


@dataclass(frozen=True)
class RequestRebuild:
    request_id: UUID
    """Names the request: the same id again is the same run (redelivery, retries)."""
    requested_by: str
    """`<source>:<who>`, e.g. `admin:ops`, `scheduler:nightly`, `cli:reindex`."""


async def request_rebuild(cmd: RequestRebuild, uow: UnitOfWork) -> Run:
    """Queue a rebuild; returns its run (the first one when the id was requested before,
    whatever its status now)."""
    if not cmd.requested_by.strip():
        raise DomainError("a rebuild request names who asked for it")
    async with uow:
        run = await uow.runs.request(cmd.request_id, cmd.requested_by)
        await uow.commit()
        return run
