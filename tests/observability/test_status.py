"""`make status`: consumer groups with lag and pending, dead-letter sizes, active index,
read from a real Redis and a real indexer."""

from __future__ import annotations

import asyncio

from marcus_messaging import ensure_group
from marcus_web.auth import mint_token
from scripts.status import index_report, print_event_status, stream_report
from tests.support.servers import wait_for
from tests.support.stack import SECRET, search_stack


async def test_groups_lag_pending_and_dead_letters(redis_client, redis_url, stream_prefix) -> None:
    stream = f"{stream_prefix}events.catalog"
    for i in range(3):
        await redis_client.xadd(stream, {"event": f"{i}".encode()})
    await ensure_group(redis_client, stream, "indexer")
    await ensure_group(redis_client, stream, "orders")
    await redis_client.xreadgroup("indexer", "replica-1", {stream: ">"}, count=2)
    await redis_client.xadd(f"{stream_prefix}dlq.indexer", {"event": b"poison"})

    rows, dlq = await stream_report(redis_url, stream_prefix)
    by_group = {(row.stream, row.group): row for row in rows}
    indexer = by_group[("events.catalog", "indexer")]
    assert (indexer.length, indexer.lag, indexer.pending) == (3, 1, 2)
    orders = by_group[("events.catalog", "orders")]
    assert (orders.lag, orders.pending) == (3, 0)
    assert dlq == {"dlq.indexer": 1}


async def test_status_names_the_active_index(
    clean_database, redis_url, stream_prefix, chroma_url, capsys
) -> None:
    token = mint_token("ops", ["admin"], secret=SECRET)
    async with search_stack(clean_database, redis_url, stream_prefix, chroma_url) as s:
        category = await s.catalog.post(
            "/api/v1/categories", json={"slug": "maps", "name": "Maps"}, headers=s.admin
        )
        await s.catalog.post(
            "/api/v1/products",
            json={
                "sku": "MAP-1",
                "name": "Alps map",
                "price": "12.00",
                "category_id": category.json()["id"],
            },
            headers=s.admin,
        )

        async def documents() -> int:
            reply = await s.indexer.get("/api/v1/admin/index", headers=s.admin)
            return reply.json().get("documents") or 0

        await wait_for(documents, within=30, what="an indexed document")
        status = (await s.indexer.get("/api/v1/admin/index", headers=s.admin)).json()
        indexer_url = str(s.indexer.base_url).rstrip("/")
        line = await asyncio.to_thread(index_report, indexer_url, token, redis_url, stream_prefix)
        assert line.startswith(f"{status['active_collection']}: 1 documents")

        await asyncio.to_thread(print_event_status, redis_url, stream_prefix, indexer_url, token)
        screen = capsys.readouterr().out
        assert "Consumer groups" in screen and "Dead letters" in screen
        assert "events.catalog" in screen and "indexer" in screen
        assert status["active_collection"] in screen

    # indexer gone: the alias in Redis still names the active collection
    line = await asyncio.to_thread(
        index_report, "http://127.0.0.1:9", token, redis_url, stream_prefix
    )
    assert status["active_collection"] in line and "from the Redis alias" in line
