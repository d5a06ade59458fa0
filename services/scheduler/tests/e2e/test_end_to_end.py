"""End to end, as processes: the scheduler fires the nightly rebuild (missed a minute
ago, caught up on start), the indexer replays events.catalog into a new collection and
emits indexer.index.rebuilt, and the scheduler's job run shows the outcome; two runs
whose requests the indexer merged into one rebuild both show it.

catalog, indexer and scheduler run as `python -m <service> serve`, with a real Chroma
server (`chroma run`), PostgreSQL and Redis.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from marcus_contracts import StreamNames
from marcus_eventstore.migrations import upgrade
from tests.support import stack
from tests.support.auth import admin_headers
from tests.support.chroma import ChromaProcess
from tests.support.databases import query_rows
from tests.support.processes import ServiceProcess, service_env, stop_all
from tests.support.servers import wait_for

pytestmark = pytest.mark.fault  # starts and stops processes

SECRET = stack.SECRET
ADMIN = admin_headers(SECRET)
NEVER = {
    "INDEX_REBUILD_CRON": "0 0 29 2 *",
    "VIEWS_REFRESH_CRON": "0 0 29 2 *",
    "CART_REMINDERS_CRON": "0 0 29 2 *",
}
"""Cron expressions of 29 February: no job fires on its own during a test."""


@pytest.fixture(scope="module")
def chroma_url() -> Iterator[str]:
    server = ChromaProcess()
    server.start()
    try:
        yield server.url
    finally:
        server.remove()


async def _prepared(
    database_url: str,
    redis_url: str,
    stream_prefix: str,
    tmp_path: Path,
    chroma_url: str,
    **scheduler: str,
) -> dict[str, ServiceProcess]:
    """Migrate and reset the database; catalog, indexer (on `chroma_url`) and scheduler as
    processes, not started yet: no job of the scheduler is due unless `scheduler` sets
    its crons."""
    for service in ("catalog", "indexer", "scheduler"):
        upgrade(service, database_url)
    await stack.reset(database_url)  # one active collection per database: start clean
    common = service_env(
        database_url, redis_url, stream_prefix, secret=SECRET, extra={"RELAY_POLL_INTERVAL": "0.2"}
    )
    envs = {
        "catalog": common,
        "indexer": {
            **common,
            "CHROMA_URL": chroma_url,
            "EMBEDDER": "hash",
            "REBUILD_POLL_INTERVAL": "0.2",
        },
        "scheduler": {**common, **NEVER, **scheduler},
    }
    return {name: ServiceProcess(name, env, tmp_path / f"{name}.log") for name, env in envs.items()}


async def _started(processes: dict[str, ServiceProcess], *names: str, within: float) -> None:
    for name in names:
        processes[name].start()
    for name in names:
        await processes[name].ready(within=within)


async def test_scheduled_rebuild_reaches_the_indexer_and_its_outcome_comes_back(
    database_url, redis_url, stream_prefix, chroma_url, tmp_path
) -> None:
    missed = (datetime.now(UTC) - timedelta(minutes=1)).replace(second=0, microsecond=0)
    processes = await _prepared(
        database_url,
        redis_url,
        stream_prefix,
        tmp_path,
        chroma_url,
        SCHEDULE_TIMEZONE="UTC",
        INDEX_REBUILD_CRON=f"{missed.minute} {missed.hour} * * *",
        MISFIRE_GRACE_SECONDS="3600",
    )
    try:
        await _started(processes, "catalog", "indexer", within=60)

        async with httpx.AsyncClient(base_url=processes["catalog"].url, headers=ADMIN) as catalog:
            category = await catalog.post("/api/v1/categories", json={"slug": "tea", "name": "Tea"})
            assert category.status_code == 201, category.text
            for sku, name in (("TEA-1", "Sencha"), ("TEA-2", "Assam")):
                product = await catalog.post(
                    "/api/v1/products",
                    json={
                        "sku": sku,
                        "name": name,
                        "price": "7.50",
                        "category_id": category.json()["id"],
                    },
                )
                assert product.status_code == 201, product.text

        # The scheduler was "down" at the nightly fire a minute ago: it catches up once.
        processes["scheduler"].start()
        async with httpx.AsyncClient(
            base_url=processes["scheduler"].url, headers=ADMIN
        ) as scheduler:

            async def rebuild_job() -> dict | None:
                try:
                    response = await scheduler.get("/api/v1/admin/jobs")
                except httpx.TransportError:
                    return None
                if response.status_code != 200:
                    return None
                jobs = {job["name"]: job for job in response.json()["items"]}
                job = jobs["index-rebuild"]
                return job if job["last_outcome"] == "succeeded" else None

            job = await wait_for(rebuild_job, within=90, interval=0.2, what="the outcome")
            run = job["last_run"]
            assert run["requested_by"] == "schedule"
            assert datetime.fromisoformat(run["fire_time"]) == missed
            assert "2 documents" in run["outcome_detail"], run["outcome_detail"]
            assert datetime.fromisoformat(job["next_run_at"]) == missed + timedelta(days=1)

        async with httpx.AsyncClient(base_url=processes["indexer"].url, headers=ADMIN) as indexer:
            status = (await indexer.get("/api/v1/admin/index")).json()
        rebuild = status["last_rebuild"]
        assert rebuild["request_id"] == run["id"], "the indexer ran the scheduler's request"
        assert rebuild["status"] == "done" and rebuild["documents"] == 2
        assert status["active_collection"] == rebuild["collection"]
        assert run["report_id"] is not None
    finally:
        stop_all(list(processes.values()))


async def test_a_rebuild_that_gives_up_reports_its_run_failed(
    database_url, redis_url, stream_prefix, tmp_path
) -> None:
    """Chroma goes away after the indexer started: every attempt of the rebuild fails,
    the indexer gives up and emits indexer.index.rebuild_failed, and the scheduler's run
    (pending until then) is recorded as failed with the indexer's error."""
    chroma = ChromaProcess()  # of this test alone: it is killed
    chroma.start()
    processes: dict[str, ServiceProcess] = {}
    try:
        processes = await _prepared(database_url, redis_url, stream_prefix, tmp_path, chroma.url)
        await _started(processes, "indexer", "scheduler", within=120)
        chroma.stop()  # the index store is down when the rebuild comes

        async with httpx.AsyncClient(
            base_url=processes["scheduler"].url, headers=ADMIN
        ) as scheduler:
            fired = await scheduler.post("/api/v1/admin/jobs/index-rebuild/run")
            assert fired.status_code in (200, 201, 202), fired.text
            run_id = fired.json()["id"]

            async def failed_job() -> dict | None:
                response = await scheduler.get("/api/v1/admin/jobs")
                if response.status_code != 200:
                    return None
                job = {job["name"]: job for job in response.json()["items"]}["index-rebuild"]
                return job if job["last_outcome"] == "failed" else None

            job = await wait_for(failed_job, within=120, interval=0.2, what="the failed outcome")
        run = job["last_run"]
        assert run["id"] == run_id
        assert run["outcome_detail"].startswith("rebuild gave up after 3 attempt(s): ")
        assert run["report_id"] is not None

        # The indexer's side (its admin API needs Chroma): the run failed for good, and
        # search kept the collection it had.
        [rebuild] = await query_rows(
            database_url,
            "SELECT status, attempts, error FROM indexer.rebuild_runs WHERE request_id = :id",
            id=run_id,
        )
        [active] = await query_rows(
            database_url, "SELECT count(*) AS n FROM indexer.collections WHERE status = 'active'"
        )
        assert active.n == 1
        assert (rebuild.status, rebuild.attempts) == ("failed", 3)
        assert run["outcome_detail"].endswith(rebuild.error)
    finally:
        stop_all(list(processes.values()))
        chroma.remove()


async def test_runs_merged_into_one_rebuild_both_get_its_outcome(
    database_url, redis_url, stream_prefix, chroma_url, tmp_path
) -> None:
    """Two runs fire while no indexer serves; the indexer, started then, reads both
    requests in one batch, rebuilds once for the older and merges the newer into it.
    Both scheduler runs end `succeeded`, from the one report. (The catalog answers the
    rebuild's snapshot request.)"""
    processes = await _prepared(database_url, redis_url, stream_prefix, tmp_path, chroma_url)
    try:
        await _started(processes, "catalog", "scheduler", within=60)
        async with httpx.AsyncClient(
            base_url=processes["scheduler"].url, headers=ADMIN
        ) as scheduler:
            fired = [await scheduler.post("/api/v1/admin/jobs/index-rebuild/run") for _ in "ab"]
            assert [r.status_code for r in fired] == [202, 202], [r.text for r in fired]
            first, second = (r.json()["id"] for r in fired)
            await wait_for(
                lambda: _published(redis_url, stream_prefix, 2), within=30, what="both fires out"
            )

            processes["indexer"].start()

            async def both_closed() -> dict[str, dict] | None:
                response = await scheduler.get("/api/v1/admin/jobs/index-rebuild/runs")
                if response.status_code != 200:
                    return None
                ours = (first, second)  # earlier tests' runs share the schema
                runs = {r["id"]: r for r in response.json()["items"] if r["id"] in ours}
                done = len(runs) == 2 and all(r["outcome"] != "pending" for r in runs.values())
                return runs if done else None

            runs = await wait_for(both_closed, within=120, interval=0.2, what="both outcomes")
        assert set(runs) == {first, second}
        assert {run["outcome"] for run in runs.values()} == {"succeeded"}
        assert runs[first]["report_id"] == runs[second]["report_id"] is not None
        assert runs[second]["outcome_detail"].startswith(
            f"merged into the rebuild of run {first}: collection "
        )

        async with httpx.AsyncClient(base_url=processes["indexer"].url, headers=ADMIN) as indexer:
            rows = await query_rows(
                database_url,
                "SELECT id, request_id, status, coalesced_into FROM indexer.rebuild_runs",
            )
            by_request = {str(row.request_id): row for row in rows}
            ran, merged = by_request[first], by_request[second]
            assert (ran.status, merged.status) == ("done", "coalesced")
            assert merged.coalesced_into == ran.id
            shown = (await indexer.get(f"/api/v1/admin/index/rebuilds/{merged.id}")).json()
        assert shown["outcome"] == "done" and shown["coalesced_into"] == str(ran.id)
    finally:
        stop_all(list(processes.values()))


async def _published(redis_url: str, prefix: str, count: int) -> bool:
    """`count` fires on the scheduler's stream (its relay published them)."""
    client = aioredis.from_url(redis_url)
    try:
        return int(await client.xlen(StreamNames(prefix).events("scheduler"))) >= count
    finally:
        await client.aclose()
