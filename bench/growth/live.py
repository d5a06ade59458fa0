"""Does a stock-only change make the live indexer embed the product again?

An indexer process (`python -m indexer serve`, hash embedder, its consumer and syncer)
indexes `products` freshly created products, then `events` `catalog.stock.reserved`
entries arrive on `events.catalog` at `rate` per second (each one product's next
version, as the saga publishes them). Once its group has acknowledged everything and
its sync queue is empty, the difference in its own counters
(`indexer_embed_batch_size` count and sum: embedding calls and texts embedded;
`indexer_documents_synced_total` by operation: upserted with an embedding, or metadata
only) per stock event is the answer.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis.asyncio as aioredis

from bench.index.metrics import scrape
from bench.services import ServiceProcess, fresh_database, processes, service_env, wait_until
from marcus_contracts import STREAM_FIELD, Event, StreamNames, registry
from marcus_contracts.events import catalog as ev
from marcus_eventstore.migrations import libpq_dsn

METRICS = ("indexer_embed_batch_size_count", "indexer_embed_batch_size_sum")
SYNCED = re.compile(r'^indexer_documents_synced_total\{[^}]*operation="(\w+)"[^}]*\} (\S+)$')


def _entry(event: Event, subject: uuid.UUID, sequence: int) -> dict[Any, Any]:
    envelope = registry.envelope(event, subject=str(subject), sequence=sequence)
    return {STREAM_FIELD: json.dumps(envelope.model_dump(mode="json", exclude_none=True))}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def _idle(redis: aioredis.Redis, stream: str, dsn: str) -> bool:
    """The indexer's group read and acknowledged everything, and nothing waits to sync."""
    groups = await redis.xinfo_groups(stream)
    group = next((g for g in groups if _text(g["name"]) == "indexer"), None)
    if group is None or group["pending"]:
        return False
    last = (await redis.xinfo_stream(stream))["last-generated-id"]
    if _text(group["last-delivered-id"]) != _text(last):
        return False
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        row = await (await conn.execute("SELECT count(*) FROM indexer.sync_queue")).fetchone()
    return row is not None and row[0] == 0


async def run(
    server_url: str,
    redis_url: str,
    chroma_url: str,
    log_dir: Path,
    products: int,
    events: int,
    rate: float,
) -> dict[str, Any]:
    prefix = f"growth-live-{time.time_ns() % 10**8:08d}:"
    stream = StreamNames(prefix).events("catalog")
    redis = aioredis.from_url(redis_url)
    category = ev.CategoryRef(id=uuid.uuid4(), slug="live", name="Live")
    ids = [uuid.uuid4() for _ in range(products)]
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for i, pid in enumerate(ids):
                created = ev.ProductCreated(
                    product_id=pid, sku=f"L-{i}", name=f"Live product {i}",
                    description="Stock moves, text stays.", price=Decimal("10.00"),
                    currency="EUR", category=category, stock=10_000,
                )  # fmt: skip
                pipe.xadd(stream, _entry(created, pid, 1))
            await pipe.execute()
        with fresh_database(server_url, ("indexer",), "growth_live") as url, processes() as procs:
            dsn = libpq_dsn(url)
            env = service_env(url, redis_url, prefix, CHROMA_URL=chroma_url, EMBEDDER="hash")
            procs.append(ServiceProcess("indexer", env, log_dir, "growth-live-indexer"))
            await procs[0].wait_ready(180)
            await wait_until(lambda: _idle(redis, stream, dsn), 180, "the products indexed", 0.2)
            async with httpx.AsyncClient(base_url=procs[0].url, timeout=10) as http:
                before = await scrape(http, METRICS)
                synced_before = await _synced(http)
                started = time.monotonic()
                for n in range(events):
                    delay = started + n / rate - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    pid = ids[n % products]
                    reserved = ev.StockReserved(
                        product_id=pid, order_id=uuid.uuid4(), quantity=1,
                        stock=10_000 - 1 - n // products,
                    )  # fmt: skip
                    await redis.xadd(stream, _entry(reserved, pid, 2 + n // products))
                await wait_until(lambda: _idle(redis, stream, dsn), 180, "stock events synced", 0.2)
                after = await scrape(http, METRICS)
                synced_after = await _synced(http)
    finally:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
    calls = after["indexer_embed_batch_size_count"] - before["indexer_embed_batch_size_count"]
    texts = after["indexer_embed_batch_size_sum"] - before["indexer_embed_batch_size_sum"]
    return {
        "products": products,
        "stock_events": events,
        "rate_per_s": rate,
        "embed_calls": int(calls),
        "texts_embedded": int(texts),
        "embed_calls_per_stock_event": round(calls / events, 3),
        "texts_per_stock_event": round(texts / events, 3),
        "documents_synced": {
            op: int(synced_after.get(op, 0) - synced_before.get(op, 0)) for op in synced_after
        },
    }


async def _synced(http: httpx.AsyncClient) -> dict[str, float]:
    """`indexer_documents_synced_total` by operation (upsert: embedded; metadata: text
    unchanged, metadata only; delete), over the collection roles."""
    response = await http.get("/metrics")
    response.raise_for_status()
    totals: dict[str, float] = {}
    for line in response.text.splitlines():
        match = SYNCED.match(line)
        if match:
            totals[match.group(1)] = totals.get(match.group(1), 0.0) + float(match.group(2))
    return totals
