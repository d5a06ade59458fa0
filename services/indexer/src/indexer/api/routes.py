"""Admin API of the indexer: index status, rebuild on demand, rebuild runs."""

from __future__ import annotations

import uuid
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status

from indexer import handlers
from indexer.api.schemas import IndexStatus, RebuildList, RebuildOut
from indexer.runtime import IndexerRuntime
from indexer.status import index_status, rebuild_out
from indexer.storage import runs as runs_store
from indexer.storage.uow import IndexerUnitOfWork
from marcus_web.auth import Admin
from marcus_web.dependencies import ReadSession, sessions
from marcus_web.problems import Problem

router = APIRouter(prefix="/api/v1/admin/index", tags=["admin"])


def _runtime(request: Request) -> IndexerRuntime:
    runtime: IndexerRuntime = request.app.state.indexer
    return runtime


@router.get("", response_model=IndexStatus, summary="Index status")
async def get_index(request: Request, _: Admin) -> IndexStatus:
    """Active collection, its document count and embedder, consumer lag, rebuilds."""
    runtime = _runtime(request)
    if not runtime.ready.is_set():
        raise Problem(
            503,
            "Service Unavailable",
            "The indexer is still connecting to Chroma; retry shortly.",
            headers={"Retry-After": "2"},
        )
    return await index_status(runtime)


@router.post(
    "/rebuild",
    response_model=RebuildOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Rebuild the index (from a catalog snapshot)",
)
async def request_rebuild(request: Request, response: Response, principal: Admin) -> RebuildOut:
    """Queues a rebuild (zero downtime: search keeps answering from the active collection
    until the new one is complete). Poll the returned run."""
    command = handlers.RequestRebuild(uuid.uuid4(), f"admin:{principal.subject}")
    run = await handlers.request_rebuild(command, IndexerUnitOfWork(sessions(request)))
    _runtime(request).wake_worker()
    response.headers["Location"] = f"/api/v1/admin/index/rebuilds/{run.id}"
    out = rebuild_out(run)
    assert out is not None
    return out


@router.get("/rebuilds", response_model=RebuildList, summary="Recent rebuild runs")
async def list_rebuilds(
    session: ReadSession, _: Admin, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> RebuildList:
    """The newest runs first, with requests merged into a run (`coalesced`) and the
    outcome that answers each."""
    runs = await runs_store.recent(session, limit)
    items = [rebuild_out(run, await runs_store.answering(session, run)) for run in runs]
    return RebuildList(items=[item for item in items if item is not None])


@router.get("/rebuilds/{run_id}", response_model=RebuildOut, summary="A rebuild run")
async def get_rebuild(session: ReadSession, run_id: UUID, _: Admin) -> RebuildOut:
    """A request merged into another run shows status `coalesced`, `coalesced_into` that
    run and, once it finished, its `outcome`."""
    run = await runs_store.get(session, run_id)
    answered_by = None if run is None else await runs_store.answering(session, run)
    out = rebuild_out(run, answered_by)
    if out is None:
        raise Problem(404, "Not Found", f"No rebuild run {run_id}.")
    return out
