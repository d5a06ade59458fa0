"""`make status`: consumer groups with lag and pending, dead-letter sizes, each stream's
length, memory, oldest entry and retention, active index, read from a real Redis and a
real indexer."""

from __future__ import annotations

import asyncio
import time

from marcus_eventstore.retention import parse_retention
from marcus_messaging import ensure_group
from marcus_web.auth import mint_token
from scripts.status import (
    index_report,
    print_event_status,
    print_streams,
    stream_report,
    streams_report,
)
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


async def test_streams_show_length_memory_oldest_entry_and_retention(
    redis_client, redis_url, stream_prefix, capsys
) -> None:
    p = stream_prefix
    three_days_ago = int((time.time() - 3 * 86_400) * 1000)
    await redis_client.xadd(f"{p}events.catalog", {"event": b"{}"}, id=f"{three_days_ago}-0")
    await redis_client.xadd(f"{p}events.catalog", {"event": b"{}"})
    await redis_client.xadd(f"{p}dlq.indexer", {"event": b"poison"})
    setting = "events.*=7d;events.catalog=7d,1000;dlq.*=30d"

    rows = await streams_report(redis_url, p, parse_retention(setting))
    by_stream = {row.stream: row for row in rows}
    assert set(by_stream) == {"events.catalog", "dlq.indexer"}
    catalog = by_stream["events.catalog"]
    assert (catalog.length, catalog.oldest_id) == (2, f"{three_days_ago}-0")
    assert catalog.oldest_age_s is not None and catalog.oldest_age_s >= 3 * 86_400
    assert catalog.memory_bytes is not None and catalog.memory_bytes > 0
    assert catalog.retention == "7d or 1000 entries", "the most specific pattern"
    assert by_stream["dlq.indexer"].retention == "30d"

    await asyncio.to_thread(print_streams, redis_url, p, setting)
    screen = capsys.readouterr().out
    assert "Streams" in screen and "oldest entry" in screen
    [line] = [line for line in screen.splitlines() if "events.catalog" in line]
    assert f"{three_days_ago}-0 (3d " in line and line.endswith("7d or 1000 entries")
    assert line.split()[1] == "2", "the length"

    await asyncio.to_thread(print_streams, "redis://127.0.0.1:9/0", p, setting)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Streams: Redis not answering")


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
        assert "Streams" in screen and "retention" in screen
        assert "events.catalog" in screen and "indexer" in screen
        assert status["active_collection"] in screen

    # indexer gone: the alias in Redis still names the active collection
    line = await asyncio.to_thread(
        index_report, "http://127.0.0.1:9", token, redis_url, stream_prefix
    )
    assert status["active_collection"] in line and "from the Redis alias" in line
