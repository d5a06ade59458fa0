"""The indexer's command handler over in-memory fakes: a rebuild request becomes one run
per request id, however often it comes, and must say who asked."""

from __future__ import annotations

from uuid import UUID

import pytest

from indexer import handlers
from indexer.storage.runs import REQUESTED
from marcus_eventstore import DomainError
from services.indexer.tests.fakes import FakeUnitOfWork

REQUEST = UUID(int=1)


async def test_a_request_queues_one_run_per_request_id() -> None:
    uow = FakeUnitOfWork()
    run = await handlers.request_rebuild(handlers.RequestRebuild(REQUEST, "admin:ops"), uow)
    assert (run.request_id, run.requested_by, run.status) == (REQUEST, "admin:ops", REQUESTED)
    again = await handlers.request_rebuild(handlers.RequestRebuild(REQUEST, "admin:ops"), uow)
    assert again == run
    assert list(uow.committed) == [REQUEST]
    other = await handlers.request_rebuild(handlers.RequestRebuild(UUID(int=2), "cli:x"), uow)
    assert other.id != run.id and uow.commits == 3


async def test_a_request_that_names_nobody_is_refused() -> None:
    uow = FakeUnitOfWork()
    with pytest.raises(DomainError):
        await handlers.request_rebuild(handlers.RequestRebuild(REQUEST, " "), uow)
    assert uow.committed == {} and uow.commits == 0
