"""A rebuild request merged into another run gets that run's outcome.

Two `scheduler.index.rebuild_requested` events land on the stream at once (one MULTI),
so the indexer records both requests in one consumed batch; the worker runs the older
and coalesces the newer into it. The run's outcome event (`indexer.index.rebuilt`, or
`indexer.index.rebuild_failed` when Chroma is gone) names the merged request in
`coalesced_requests`, and the admin API shows the merged request closed with that
outcome.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from marcus_contracts import STREAM_FIELD, Envelope, StreamNames, registry
from marcus_contracts.events.scheduler import IndexRebuildRequested
from tests.support.chroma import ChromaProcess
from tests.support.databases import query_rows
from tests.support.servers import wait_for
from tests.support.stack import search_stack

OUTCOMES = ("indexer.index.rebuilt", "indexer.index.rebuild_failed")


def _requests(count: int) -> list[Envelope]:
    """`count` scheduler fires a minute apart, as the scheduler emits them."""
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    envelopes = []
    for i in range(count):
        fire_time = start + timedelta(minutes=i)
        event = IndexRebuildRequested(job="index-rebuild", fire_time=fire_time)
        run = uuid.uuid5(uuid.NAMESPACE_URL, f"index-rebuild@{fire_time.isoformat()}")
        envelopes.append(registry.envelope(event, subject=str(run), sequence=1))
    return envelopes


async def _publish_together(redis_client: Any, prefix: str, envelopes: list[Envelope]) -> None:
    """All in one MULTI, so the indexer's consumer reads them in one batch."""
    stream = StreamNames(prefix).events("scheduler")
    async with redis_client.pipeline(transaction=True) as pipe:
        for envelope in envelopes:
            pipe.xadd(stream, {STREAM_FIELD: envelope.to_json()})
        await pipe.execute()


async def _outcomes(redis_client: Any, prefix: str) -> list[Envelope]:
    entries = await redis_client.xrange(StreamNames(prefix).events("indexer"))
    envelopes = [Envelope.from_json(fields[STREAM_FIELD.encode()]) for _, fields in entries]
    return [e for e in envelopes if e.type in OUTCOMES]


async def _runs(database_url: str) -> dict[str, Any]:
    """The indexer's rebuild runs by request id."""
    rows = await query_rows(database_url, "SELECT * FROM indexer.rebuild_runs")
    return {str(row.request_id): row for row in rows}


async def _two_requests(
    redis_client: Any, prefix: str, database_url: str, *, within: float
) -> tuple[list[Envelope], Envelope, Any, Any]:
    """Two scheduler requests read in one batch; (the requests, the one outcome, the run
    of the first, the run of the second)."""
    first, second = requests = _requests(2)
    await _publish_together(redis_client, prefix, requests)
    [outcome] = await wait_for(
        lambda: _outcomes(redis_client, prefix), within=within, what="the outcome"
    )
    runs = await _runs(database_url)
    return requests, outcome, runs[str(first.id)], runs[str(second.id)]


async def _rebuild(s: Any, run_id: uuid.UUID) -> dict[str, Any]:
    response = await s.indexer.get(f"/api/v1/admin/index/rebuilds/{run_id}", headers=s.admin)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def _ready(url: str) -> bool:
    async with httpx.AsyncClient(base_url=url) as client:
        return (await client.get("/readyz")).status_code == 200


async def test_a_coalesced_request_is_answered_by_the_rebuild_it_joined(
    clean_database, redis_url, stream_prefix, chroma_url, redis_client
) -> None:
    async with search_stack(clean_database, redis_url, stream_prefix, chroma_url) as s:
        await wait_for(lambda: _ready(str(s.indexer.base_url)), within=60, what="indexer ready")
        (first, second), outcome, ran, merged = await _two_requests(
            redis_client, stream_prefix, clean_database, within=90
        )
        assert (ran.status, merged.status) == ("done", "coalesced")
        assert merged.coalesced_into == ran.id

        assert outcome.type == "indexer.index.rebuilt" and outcome.subject == str(ran.id)
        data = outcome.data
        assert data["request_id"] == str(first.id)
        assert data["coalesced_requests"] == [
            {
                "run_id": str(merged.id),
                "request_id": str(second.id),
                "requested_by": "scheduler:schedule",
            }
        ]
        assert merged.finished_at == ran.finished_at, "closed in the run's own transaction"

        shown = await _rebuild(s, merged.id)
        assert shown["status"] == "coalesced" and shown["coalesced_into"] == str(ran.id)
        assert shown["outcome"] == "done" and shown["finished_at"] is not None
        assert (await _rebuild(s, ran.id))["outcome"] == "done"

        # The same requests delivered again change nothing: no second rebuild, no report.
        await _publish_together(redis_client, stream_prefix, [first, second])
        await wait_for(lambda: _drained(s), within=30, what="the redelivered requests consumed")
        assert len(await _outcomes(redis_client, stream_prefix)) == 1
        assert {r.status for r in (await _runs(clean_database)).values()} == {
            "done",
            "coalesced",
        }


async def test_a_coalesced_request_is_answered_by_the_rebuild_that_gave_up(
    clean_database, redis_url, stream_prefix, redis_client
) -> None:
    chroma = ChromaProcess()  # of this test alone: it is stopped
    chroma.start()
    try:
        async with search_stack(clean_database, redis_url, stream_prefix, chroma.url) as s:
            await wait_for(lambda: _ready(str(s.indexer.base_url)), within=60, what="indexer ready")
            chroma.stop()  # the index store is down when the requests come
            (first, second), outcome, ran, merged = await _two_requests(
                redis_client, stream_prefix, clean_database, within=120
            )
            assert (ran.status, ran.attempts) == ("failed", 3)
            assert (merged.status, merged.coalesced_into) == ("coalesced", ran.id)

            assert outcome.type == "indexer.index.rebuild_failed"
            assert outcome.data["request_id"] == str(first.id)
            assert [r["request_id"] for r in outcome.data["coalesced_requests"]] == [str(second.id)]

            shown = await _rebuild(s, merged.id)
            assert shown["outcome"] == "failed" and shown["coalesced_into"] == str(ran.id)
            assert shown["finished_at"] is not None
    finally:
        chroma.remove()


async def _drained(s: Any) -> bool:
    """Every scheduler event delivered and acknowledged (the index API needs Chroma)."""
    response = await s.indexer.get("/api/v1/admin/index", headers=s.admin)
    if response.status_code != 200:
        return False
    streams = response.json()["lag"]["streams"]
    lag = next(x for x in streams if x["stream"].endswith("events.scheduler"))
    return bool(lag["pending"] == 0 and lag["undelivered"] == 0)
