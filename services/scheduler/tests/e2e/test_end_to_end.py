"""End to end, as processes: the scheduler fires the nightly rebuild (missed a minute
ago, caught up on start), the indexer replays events.catalog into a new collection and
emits indexer.index.rebuilt, and the scheduler's job run shows the outcome; two runs
whose requests the indexer merged into one rebuild both show it.

catalog, indexer and scheduler run as `python -m <service> serve`, with a real Chroma
server (`chroma run`), PostgreSQL and Redis.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from marcus_contracts import StreamNames
from marcus_eventstore.migrations import upgrade
from tests.support import stack
from tests.support.auth import admin_headers
from tests.support.chroma import ChromaProcess
from tests.support.servers import free_port, stop_processes, wait_for

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


def start(service: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", service, "serve", "--port", str(port)],
        env={**os.environ, **env, "LOG_LEVEL": "warning"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


async def _prepared(
    database_url: str, redis_url: str, stream_prefix: str, *services: str
) -> tuple[dict[str, str], dict[str, int], dict[str, str]]:
    """Migrate and reset the database; the services' common environment, and a free port
    and base URL for each of `services`."""
    for service in ("catalog", "indexer", "scheduler"):
        upgrade(service, database_url)
    await stack.reset(database_url)  # one active collection per database: start clean
    common = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "STREAM_PREFIX": stream_prefix,
        "JWT_SECRET": SECRET,
        "RELAY_POLL_INTERVAL": "0.2",
    }
    ports = {name: free_port() for name in services}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    return common, ports, urls


def _indexer_env(common: dict[str, str], chroma_url: str, namespace: str) -> dict[str, str]:
    return {
        **common,
        "CHROMA_URL": chroma_url,
        "INDEX_NAMESPACE": namespace,
        "EMBEDDER": "hash",
        "REBUILD_POLL_INTERVAL": "0.2",
    }


async def _ready(url: str) -> bool:
    try:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{url}/readyz")).status_code == 200
    except httpx.TransportError:
        return False


async def test_scheduled_rebuild_reaches_the_indexer_and_its_outcome_comes_back(
    database_url, redis_url, stream_prefix, chroma_url
) -> None:
    common, ports, urls = await _prepared(
        database_url, redis_url, stream_prefix, "catalog", "indexer", "scheduler"
    )
    missed = (datetime.now(UTC) - timedelta(minutes=1)).replace(second=0, microsecond=0)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(start("catalog", ports["catalog"], common))
        procs.append(
            start(
                "indexer",
                ports["indexer"],
                _indexer_env(common, chroma_url, stream_prefix),
            )
        )
        for name in ("catalog", "indexer"):
            await wait_for(lambda name=name: _ready(urls[name]), within=60, what=f"{name} up")

        async with httpx.AsyncClient(base_url=urls["catalog"], headers=ADMIN) as catalog:
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
        procs.append(
            start(
                "scheduler",
                ports["scheduler"],
                {
                    **common,
                    "SCHEDULE_TIMEZONE": "UTC",
                    "INDEX_REBUILD_CRON": f"{missed.minute} {missed.hour} * * *",
                    "VIEWS_REFRESH_CRON": "0 0 29 2 *",
                    "CART_REMINDERS_CRON": "0 0 29 2 *",
                    "MISFIRE_GRACE_SECONDS": "3600",
                },
            )
        )
        async with httpx.AsyncClient(base_url=urls["scheduler"], headers=ADMIN) as scheduler:

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

        async with httpx.AsyncClient(base_url=urls["indexer"], headers=ADMIN) as indexer:
            status = (await indexer.get("/api/v1/admin/index")).json()
        rebuild = status["last_rebuild"]
        assert rebuild["request_id"] == run["id"], "the indexer ran the scheduler's request"
        assert rebuild["status"] == "done" and rebuild["documents"] == 2
        assert status["active_collection"] == rebuild["collection"]
        assert run["report_id"] is not None
    finally:
        stop_processes(procs)


async def test_a_rebuild_that_gives_up_reports_its_run_failed(
    database_url, redis_url, stream_prefix
) -> None:
    """Chroma goes away after the indexer started: every attempt of the rebuild fails,
    the indexer gives up and emits indexer.index.rebuild_failed, and the scheduler's run
    (pending until then) is recorded as failed with the indexer's error."""
    common, ports, urls = await _prepared(
        database_url, redis_url, stream_prefix, "indexer", "scheduler"
    )
    chroma = ChromaProcess()  # of this test alone: it is killed
    chroma.start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        indexer_env = _indexer_env(common, chroma.url, stream_prefix)
        procs.append(start("indexer", ports["indexer"], indexer_env))
        procs.append(start("scheduler", ports["scheduler"], {**common, **NEVER}))
        for name in ("indexer", "scheduler"):
            await wait_for(lambda name=name: _ready(urls[name]), within=120, what=f"{name} up")
        chroma.stop()  # the index store is down when the rebuild comes

        async with httpx.AsyncClient(base_url=urls["scheduler"], headers=ADMIN) as scheduler:
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
        [rebuild] = await _rows(
            database_url,
            "SELECT status, attempts, error FROM indexer.rebuild_runs WHERE request_id = :id",
            id=run_id,
        )
        [active] = await _rows(
            database_url, "SELECT count(*) AS n FROM indexer.collections WHERE status = 'active'"
        )
        assert active.n == 1
        assert (rebuild.status, rebuild.attempts) == ("failed", 3)
        assert run["outcome_detail"].endswith(rebuild.error)
    finally:
        stop_processes(procs)
        chroma.remove()


async def test_runs_merged_into_one_rebuild_both_get_its_outcome(
    database_url, redis_url, stream_prefix, chroma_url
) -> None:
    """Two runs fire while no indexer serves; the indexer, started then, reads both
    requests in one batch, rebuilds once for the older and merges the newer into it.
    Both scheduler runs end `succeeded`, from the one report. (The catalog answers the
    rebuild's snapshot request.)"""
    common, ports, urls = await _prepared(
        database_url, redis_url, stream_prefix, "catalog", "indexer", "scheduler"
    )
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(start("catalog", ports["catalog"], common))
        procs.append(start("scheduler", ports["scheduler"], {**common, **NEVER}))
        for name in ("catalog", "scheduler"):
            await wait_for(lambda name=name: _ready(urls[name]), within=60, what=f"{name} up")
        async with httpx.AsyncClient(base_url=urls["scheduler"], headers=ADMIN) as scheduler:
            fired = [await scheduler.post("/api/v1/admin/jobs/index-rebuild/run") for _ in "ab"]
            assert [r.status_code for r in fired] == [202, 202], [r.text for r in fired]
            first, second = (r.json()["id"] for r in fired)
            await wait_for(
                lambda: _published(redis_url, stream_prefix, 2), within=30, what="both fires out"
            )

            procs.append(
                start(
                    "indexer",
                    ports["indexer"],
                    _indexer_env(common, chroma_url, stream_prefix),
                )
            )

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

        async with httpx.AsyncClient(base_url=urls["indexer"], headers=ADMIN) as indexer:
            rows = await _rows(
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
        stop_processes(procs)


async def _published(redis_url: str, prefix: str, count: int) -> bool:
    """`count` fires on the scheduler's stream (its relay published them)."""
    client = aioredis.from_url(redis_url)
    try:
        return int(await client.xlen(StreamNames(prefix).events("scheduler"))) >= count
    finally:
        await client.aclose()


async def _rows(database_url: str, query: str, **params: object) -> list[Any]:
    """The rows of one query (the indexer's side, whose admin API needs Chroma)."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(text(query), params)).all())
    finally:
        await engine.dispose()
