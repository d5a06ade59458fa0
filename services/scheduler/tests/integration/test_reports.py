"""Outcome reports: `indexer.index.rebuilt` on events.indexer, as the indexer publishes
it, gives the run that requested the rebuild its outcome, exactly once; the runs whose
requests the indexer merged into that rebuild (`coalesced_requests`) get it too."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx

from marcus_contracts import STREAM_FIELD, Envelope, Event, StreamNames, registry
from marcus_contracts.events.indexer import (
    CoalescedRequest,
    IndexRebuildFailed,
    IndexRebuilt,
)
from marcus_messaging import group_state
from scheduler.main import create_app
from scheduler.settings import SchedulerSettings
from services.scheduler.tests.support import all_runs
from tests.support.servers import serve_app, wait_for


def merged(*request_ids: str) -> list[CoalescedRequest]:
    return [
        CoalescedRequest(run_id=uuid.uuid4(), request_id=uuid.UUID(r), requested_by="schedule")
        for r in request_ids
    ]


def reported(report: type[Event], request_id: uuid.UUID, **fields: Any) -> Envelope:
    """The indexer's report of one of its runs, as it publishes it."""
    run = uuid.uuid4()
    event = report(run_id=run, request_id=request_id, requested_by="schedule", **fields)
    return registry.envelope(event, subject=str(run), sequence=1)


def rebuilt(request_id: uuid.UUID, coalesced: list[CoalescedRequest] | None = None) -> Envelope:
    now = datetime.now(UTC)
    return reported(
        IndexRebuilt,
        request_id,
        collection="products_hash256_v2",
        previous_collection="products_hash256_v1",
        embedder="hash",
        dimension=256,
        documents=216,
        events_replayed=230,
        seconds=1.5,
        started_at=now,
        finished_at=now,
        coalesced_requests=coalesced or [],
    )


def gave_up(request_id: uuid.UUID, coalesced: list[CoalescedRequest]) -> Envelope:
    now = datetime.now(UTC)
    return reported(
        IndexRebuildFailed,
        request_id,
        error="ConnectError('chroma unreachable')",
        attempts=3,
        started_at=now,
        failed_at=now,
        coalesced_requests=coalesced,
    )


@contextlib.asynccontextmanager
async def consuming(
    settings: SchedulerSettings, admin_headers: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    """The scheduler with its consumer on, and an operator's client of its API."""
    settings = settings.model_copy(update={"consumer_enabled": True})
    async with (
        serve_app(create_app(settings)) as url,
        httpx.AsyncClient(base_url=url, headers=admin_headers) as client,
    ):
        yield client


async def test_the_rebuild_report_completes_the_run_once(
    engine, settings, admin_headers, redis_client, stream_prefix, scheduler_stream
) -> None:

    indexer_stream = StreamNames(stream_prefix).events("indexer")
    async with consuming(settings, admin_headers) as client:
        run = (await client.post("/api/v1/admin/jobs/index-rebuild/run")).json()
        report = rebuilt(uuid.UUID(run["id"]))
        unrelated = rebuilt(uuid.uuid4())  # e.g. `make reindex`: no run asked for it
        for envelope in (unrelated, report, report, rebuilt(uuid.UUID(run["id"]))):
            await redis_client.xadd(indexer_stream, {STREAM_FIELD: envelope.to_json()})

        async def finished() -> list[Envelope]:
            return [e for e in await scheduler_stream.envelopes() if e.type.endswith("finished")]

        [done] = await wait_for(finished, within=15, what="scheduler.job.finished")
        assert done.subject == run["id"] and done.sequence == 2
        assert done.causationid == str(report.id)
        event = registry.decode(done)
        assert event.outcome == "succeeded" and event.report_id == report.id

        runs = (await client.get("/api/v1/admin/jobs/index-rebuild/runs")).json()["items"]
        [shown] = runs
        assert shown["outcome"] == "succeeded" and shown["report_id"] == str(report.id)
        assert "products_hash256_v2" in shown["outcome_detail"]
        jobs = (await client.get("/api/v1/admin/jobs")).json()["items"]
        assert next(j for j in jobs if j["name"] == "index-rebuild")["last_outcome"] == (
            "succeeded"
        )

        # every report was consumed (acked), the later ones changed nothing
        await wait_for(lambda: _all_acked(redis_client, indexer_stream), what="reports acked")
    assert len(await finished()) == 1
    assert [r.status for r in await all_runs(engine)] == ["succeeded"]
    assert not await redis_client.exists(StreamNames(stream_prefix).dlq("scheduler"))


async def _all_acked(redis_client, stream: str) -> bool:
    state = await group_state(redis_client, stream, "scheduler")
    return state is not None and state.pending == 0 and state.lag == 0


async def _fire(client: httpx.AsyncClient, times: int) -> list[str]:
    """`times` runs of index-rebuild fired now (each its own fire time)."""
    ids = []
    for _ in range(times):
        response = await client.post("/api/v1/admin/jobs/index-rebuild/run")
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    return ids


async def _runs(client: httpx.AsyncClient) -> dict[str, dict]:
    runs = (await client.get("/api/v1/admin/jobs/index-rebuild/runs")).json()["items"]
    return {run["id"]: run for run in runs}


async def test_one_report_closes_the_run_and_the_runs_merged_into_its_rebuild(
    engine, settings, admin_headers, redis_client, stream_prefix, scheduler_stream
) -> None:
    """Three fires; the indexer ran the first and merged the other two into it. Its one
    `indexer.index.rebuilt` closes all three, delivered twice or not; a later report
    naming a merged run again (another rebuild's) changes nothing."""
    indexer_stream = StreamNames(stream_prefix).events("indexer")
    async with consuming(settings, admin_headers) as client:
        first, *others = await _fire(client, 3)
        report = rebuilt(uuid.UUID(first), merged(*others))
        late = rebuilt(uuid.uuid4(), merged(others[0]))
        for envelope in (report, report, late):
            await redis_client.xadd(indexer_stream, {STREAM_FIELD: envelope.to_json()})

        async def finished() -> list[Envelope]:
            return [e for e in await scheduler_stream.envelopes() if e.type.endswith("finished")]

        done = await wait_for(
            lambda: _at_least(finished, 3), within=15, what="three scheduler.job.finished"
        )
        await wait_for(lambda: _all_acked(redis_client, indexer_stream), what="reports acked")
        assert len(await finished()) == 3, "each run finished once"
        assert {e.subject for e in done} == {first, *others}
        assert {e.causationid for e in done} == {str(report.id)}
        assert {registry.decode(e).report_id for e in done} == {report.id}

        runs = await _runs(client)
        assert {run["outcome"] for run in runs.values()} == {"succeeded"}
        assert {run["report_id"] for run in runs.values()} == {str(report.id)}
        assert "products_hash256_v2" in runs[first]["outcome_detail"]
        for other in others:
            detail = runs[other]["outcome_detail"]
            assert detail.startswith(f"merged into the rebuild of run {first}: "), detail
            assert "products_hash256_v2" in detail
    assert [r.status for r in await all_runs(engine)] == ["succeeded"] * 3
    assert not await redis_client.exists(StreamNames(stream_prefix).dlq("scheduler"))


async def test_a_failure_report_closes_the_runs_merged_into_the_rebuild_failed(
    engine, settings, admin_headers, redis_client, stream_prefix
) -> None:
    indexer_stream = StreamNames(stream_prefix).events("indexer")
    async with consuming(settings, admin_headers) as client:
        first, second = await _fire(client, 2)
        report = gave_up(uuid.UUID(first), merged(second))
        await redis_client.xadd(indexer_stream, {STREAM_FIELD: report.to_json()})

        async def closed() -> dict[str, dict] | None:
            runs = await _runs(client)
            return runs if all(r["outcome"] != "pending" for r in runs.values()) else None

        runs = await wait_for(closed, within=15, what="both runs closed")
    assert {run["outcome"] for run in runs.values()} == {"failed"}
    assert runs[first]["outcome_detail"].startswith("rebuild gave up after 3 attempt(s): ")
    assert runs[second]["outcome_detail"] == (
        f"merged into the rebuild of run {first}: {runs[first]['outcome_detail']}"
    )
    assert [r.status for r in await all_runs(engine)] == ["failed", "failed"]


async def _at_least(source, count: int) -> list[Envelope] | None:  # type: ignore[no-untyped-def]
    found: list[Envelope] = await source()
    return found if len(found) >= count else None
