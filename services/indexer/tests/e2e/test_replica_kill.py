"""Two indexer processes share the group; one is SIGKILLed while work is in flight.

The victim runs with `FAULT_HOLD_FOLD_SECONDS`: each batch it consumes stays open (rows
locked, entries pending, nothing committed or acked) far longer than the test, so once
it holds entries it still holds them when the kill lands, whatever the machine's load.
The survivor must then reclaim them, and the index must end with every product once.
The deadlines are generous (a full-suite run loads the machine); none is a speed claim."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from marcus_contracts import StreamNames
from tests.support.processes import ServiceProcess, service_env, stop_all
from tests.support.search import catalog_snapshot, differences, index_snapshot
from tests.support.servers import serve_app, wait_for
from tests.support.stack import SECRET, admin_headers, common

pytestmark = pytest.mark.fault

PRODUCTS = 150
RECLAIM_IDLE_MS = 30_000
"""Longer than the observer needs to see the victim's entries and kill it (a few ms, but
seconds when the machine is loaded: the observer shares its event loop with the catalog
the test drives), so the survivor cannot take them over before the kill. Idle counts
from delivery, and the victim never finishes its first batch."""


def start_indexer(
    log: Path,
    database_url: str,
    redis_url: str,
    prefix: str,
    chroma_url: str,
    *,
    hold_seconds: float = 0.0,
) -> ServiceProcess:
    extra = {
        "CHROMA_URL": chroma_url,
        "EMBEDDER": "hash",
        "CONSUMER_BATCH": "10",
        "SYNC_BATCH": "8",
        "CONSUMER_RECLAIM_MIN_IDLE_MS": str(RECLAIM_IDLE_MS),
        "CONSUMER_BACKOFF_BASE_MS": "200",
        "FAULT_HOLD_FOLD_SECONDS": str(hold_seconds),
    }
    env = service_env(database_url, redis_url, prefix, secret=SECRET, extra=extra)
    return ServiceProcess("indexer", env, log).start()


async def test_sigkilled_replica_loses_and_duplicates_nothing(
    clean_database, redis_url, stream_prefix, chroma_url, tmp_path: Path
) -> None:
    from catalog.main import create_app
    from catalog.settings import CatalogSettings

    procs = [
        start_indexer(
            tmp_path / f"indexer-{'victim' if victim else 'survivor'}.log",
            clean_database,
            redis_url,
            stream_prefix,
            chroma_url,
            hold_seconds=3600.0 if victim else 0.0,  # the victim never finishes a batch
        )
        for victim in (True, False)
    ]
    admin = admin_headers()
    try:
        clients = [httpx.AsyncClient(base_url=p.url, timeout=30) for p in procs]
        for proc in procs:
            await proc.ready(within=180)
        survivor = clients[1]

        settings = CatalogSettings(**common(clean_database, redis_url, stream_prefix))  # type: ignore[arg-type]
        async with (
            serve_app(create_app(settings)) as url,
            httpx.AsyncClient(base_url=url, timeout=30) as catalog,
        ):
            category = await catalog.post(
                "/api/v1/categories", json={"slug": "tools", "name": "Tools"}, headers=admin
            )
            cat_id = category.json()["id"]

            async def create(i: int) -> None:
                response = await catalog.post(
                    "/api/v1/products",
                    json={
                        "sku": f"T-{i}",
                        "name": f"Hammer {i}",
                        "price": "9.99",
                        "currency": "EUR",
                        "category_id": cat_id,
                        "stock": 1 + i % 5,
                    },
                    headers=admin,
                )
                assert response.status_code == 201, response.text

            async def lag() -> int:
                status = (await survivor.get("/api/v1/admin/index", headers=admin)).json()
                return status["lag"]["total"] or 0

            assert procs[0].proc is not None
            victim = f"{socket.gethostname()}-{procs[0].proc.pid}"
            stream = StreamNames(stream_prefix).events("catalog")
            observer = aioredis.from_url(redis_url)

            async def victim_holds() -> int:
                summary = await observer.xpending(stream, "indexer")
                held = {c["name"].decode(): c["pending"] for c in summary.get("consumers") or []}
                return int(held.get(victim, 0))

            async def kill_when_the_victim_holds_entries() -> tuple[int, int]:
                """Kill on the observed condition; what was in flight right after."""
                await wait_for(
                    lambda: _positive(victim_holds()),
                    within=120,
                    interval=0.005,
                    what="entries held by the victim",
                )
                await asyncio.to_thread(procs[0].kill)
                return await victim_holds(), await lag()

            # The category's event is no product event: whoever reads it acknowledges it at
            # once, without the victim's hold. Let it be consumed before the killer watches,
            # so that every entry the victim is then seen holding is one it never releases.
            await wait_for(
                lambda: _lag_is(survivor, admin, 0), within=120, what="the category consumed"
            )
            await wait_for(
                lambda: _is_zero(victim_holds()), within=120, what="the category acknowledged"
            )
            killer = asyncio.create_task(kill_when_the_victim_holds_entries())
            for i in range(PRODUCTS // 3):
                await create(i)
            await asyncio.gather(*(create(i) for i in range(PRODUCTS // 3, PRODUCTS)))
            held_at_death, in_flight = await killer
            await observer.aclose()
            # Its batch never committed, and reclaiming needs RECLAIM_IDLE_MS of idleness:
            # the entries are still the dead victim's, for the survivor to take over.
            assert held_at_death > 0, "nothing was in flight when the replica died"
            assert in_flight > 0

            await wait_for(
                lambda: _lag_is(survivor, admin, 0),
                within=180,
                what="the survivor drained the group",
            )
            catalog_now = await catalog_snapshot(catalog)
            assert len(catalog_now) == PRODUCTS
            index = await index_snapshot(chroma_url, redis_url, stream_prefix)
            assert differences(catalog_now, index) == []
            status = (await survivor.get("/api/v1/admin/index", headers=admin)).json()
            assert status["documents"] == PRODUCTS  # one document per product: nothing twice
        for client in clients:
            await client.aclose()
    finally:
        stop_all(procs, grace=20)


async def _positive(value: Awaitable[int]) -> bool:
    return await value > 0


async def _is_zero(value: Awaitable[int]) -> bool:
    return await value == 0


async def _lag_is(client: httpx.AsyncClient, admin: dict, value: int) -> bool:
    status = (await client.get("/api/v1/admin/index", headers=admin)).json()
    return status["lag"]["total"] == value
