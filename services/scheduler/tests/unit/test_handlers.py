"""The scheduler's use cases over in-memory fakes of the repository and unit of work:
what a fire and an outcome record, and that a refused or repeated one records nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from marcus_contracts.events import scheduler as ev
from scheduler import handlers
from scheduler.domain import NotLeader
from scheduler.jobs import INDEX_REBUILD, default_jobs, run_id
from services.scheduler.tests.fakes import FakeStore, FakeUnitOfWork

JOBS = default_jobs(
    timezone=ZoneInfo("Europe/Berlin"),
    index_rebuild_cron="0 3 * * *",
    views_refresh_cron="0 * * * *",
)
REBUILD = JOBS[INDEX_REBUILD]
AT_THREE = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


async def fired(store: FakeStore, fire_time: datetime = AT_THREE) -> uuid.UUID:
    result = await handlers.fire_job(handlers.FireJob(REBUILD, fire_time), FakeUnitOfWork(store))
    assert result.created
    return result.run_id


def outcome(run: uuid.UUID, succeeded: bool = True, detail: str = "done") -> handlers.RecordOutcome:
    return handlers.RecordOutcome(run, succeeded, detail, "indexer.index.rebuilt", uuid.uuid4())


async def test_a_fire_records_the_run_and_its_event(store: FakeStore) -> None:
    run = await fired(store)
    assert run == run_id(INDEX_REBUILD, AT_THREE)
    [(subject, sequence, event)] = store.events
    assert (subject, sequence) == (run, 1)
    assert isinstance(event, ev.IndexRebuildRequested)
    assert (event.job, event.fire_time, event.requested_by) == (INDEX_REBUILD, AT_THREE, "schedule")
    assert store.runs[run].status == "requested"


async def test_the_same_fire_time_again_records_nothing(store: FakeStore) -> None:
    run = await fired(store)
    again = await handlers.fire_job(handlers.FireJob(REBUILD, AT_THREE), FakeUnitOfWork(store))
    assert (again.run_id, again.created) == (run, False)
    assert len(store.events) == 1


async def test_a_replica_past_its_lease_cannot_fire(store: FakeStore) -> None:
    async def deposed(session: object) -> bool:
        return False

    with pytest.raises(NotLeader):
        await handlers.fire_job(
            handlers.FireJob(REBUILD, AT_THREE), FakeUnitOfWork(store), fence=deposed
        )
    assert store.runs == {} and store.events == []


async def test_an_outcome_finishes_its_run_once(store: FakeStore) -> None:
    run = await fired(store)
    first = outcome(run, detail="collection v2 active")
    assert await handlers.record_outcome(first, FakeUnitOfWork(store))
    assert not await handlers.record_outcome(outcome(run, succeeded=False), FakeUnitOfWork(store))
    [_, (subject, sequence, finished)] = store.events
    assert (subject, sequence) == (run, 2)
    assert isinstance(finished, ev.JobFinished)
    assert (finished.outcome, finished.detail, finished.report_id) == (
        "succeeded",
        "collection v2 active",
        first.report_id,
    )
    assert store.runs[run].status == "succeeded"


async def test_one_report_finishes_every_run_it_names_and_skips_unknown_ones(
    store: FakeStore,
) -> None:
    runs = [await fired(store, AT_THREE.replace(day=day)) for day in (1, 2, 3)]
    unknown = uuid.uuid4()
    changed = await handlers.record_outcomes(
        [outcome(run, succeeded=False) for run in (*runs, unknown)], FakeUnitOfWork(store)
    )
    assert sorted(changed) == sorted(runs)
    assert {store.runs[run].status for run in runs} == {"failed"}
    assert unknown not in store.runs
