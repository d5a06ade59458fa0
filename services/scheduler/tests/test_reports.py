"""Outcome reports: `indexer.index.rebuilt` on events.indexer, as the indexer publishes
it, gives the run that requested the rebuild its outcome, exactly once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx

from marcus_contracts import STREAM_FIELD, Envelope, StreamNames, registry
from marcus_contracts.events.indexer import IndexRebuiltV1
from marcus_messaging import group_state
from scheduler.main import create_app
from services.scheduler.tests.support import all_runs
from tests.support.servers import serve_app, wait_for


def rebuilt(request_id: uuid.UUID) -> Envelope:
    now = datetime.now(UTC)
    run = uuid.uuid4()
    event = IndexRebuiltV1(
        run_id=run,
        request_id=request_id,
        requested_by="schedule",
        collection="products_hash256_v2",
        previous_collection="products_hash256_v1",
        embedder="hash",
        dimension=256,
        documents=216,
        events_replayed=230,
        seconds=1.5,
        started_at=now,
        finished_at=now,
    )
    return registry.envelope(event, subject=str(run), sequence=1)


async def test_the_rebuild_report_completes_the_run_once(
    engine, settings, admin_headers, redis_client, stream_prefix, scheduler_stream
) -> None:

    settings = settings.model_copy(update={"consumer_enabled": True})
    indexer_stream = StreamNames(stream_prefix).events("indexer")
    async with (
        serve_app(create_app(settings)) as url,
        httpx.AsyncClient(base_url=url, headers=admin_headers) as client,
    ):
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
