"""Rebuild throughput of the indexer as a ratio of the raw embed+upsert ceiling.

Measured in one run, on the bench's Chroma server, the local PostgreSQL and Redis,
hash embedder:

- ceiling: the N products' documents embedded and upserted into a fresh collection in
  the same batches a rebuild uses, straight from memory: no events, no PostgreSQL.
- rebuild: `events.catalog` holding one `catalog.product.created` per product (N
  events); a rebuild run replays it (XRANGE pages, fold, guarded writes, switch).

Target: rebuild >= 80% of the ceiling. The rebuild runs in this process (the same
`reindex` as `python -m indexer reindex`), so there is no HTTP or process start in it.

Search during a rebuild: with the first rebuild's collection active, an assistant process
serves `GET /api/v1/search?mode=hybrid` and this process sends searches open loop at
`--search-rate`/s (at most `IN_FLIGHT` outstanding): first `--search-s` seconds with nothing else running (idle), then
during a second rebuild run by `python -m indexer reindex` as a process of its own (so
the searcher's event loop shares nothing with the rebuild). Latency p50/p99 of both,
their ratio, and the second rebuild's throughput under that search load.

With an alternate Chroma server (the stack's layout, ADR 0035; `--one-server`: none), the
first rebuild builds on the main server and the second on the alternate one, so the
searches read the main server while the second rebuild writes, and the new collection
after the switch, while the old one is dropped on the main server.

Both rebuilds write to Chroma paced as the indexer's settings say (`--write-chunk`,
`--write-gap`: `REBUILD_WRITE_CHUNK`, `REBUILD_WRITE_GAP`; ADR 0031); with
`--compare-unpaced` the same row also holds both rebuilds unpaced (chunk 0), measured
first in the same run, under `unpaced`.

    python -m bench.index rebuild --products 10000 100000
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import create_async_engine

from bench.index.common import ServiceProcess, processes, service_env, summary_ms
from marcus_eventstore.migrations import libpq_dsn

IN_FLIGHT = 8
QUERIES = ("trail jacket", "coffee grinder", "sturdy everyday product", "red jacket",
           "product 42", "grinder", "long description", "jacket coffee")  # fmt: skip


def _replay() -> dict[str, str]:
    """This bench writes `events.catalog` only (no catalog service to answer a snapshot
    request): its rebuilds replay the stream, whatever the indexer's default source."""
    from indexer.settings import IndexerSettings

    return {"rebuild_source": "replay"} if "rebuild_source" in IndexerSettings.model_fields else {}


def events(count: int) -> list:
    from marcus_contracts import registry
    from marcus_contracts.events.catalog import CategoryRef, ProductCreated

    categories = [
        CategoryRef(id=uuid.uuid4(), slug=f"cat-{i}", name=f"Category {i}") for i in range(12)
    ]
    out = []
    for i in range(count):
        pid = uuid.uuid4()
        event = ProductCreated(
            product_id=pid,
            sku=f"B-{i}",
            name=f"Product {i} trail jacket coffee grinder"[: 20 + i % 20],
            description="A sturdy everyday product with a long description. " * 3,
            price=Decimal(f"{10 + i % 500}.90"),
            currency="EUR",
            category=categories[i % 12],
            attributes={"colour": "red", "weight_g": i % 1000},
            stock=i % 7,
        )
        out.append((registry.envelope(event, subject=str(pid), sequence=1), event))
    return out


async def measure(
    count: int,
    base_url: str,
    redis_url: str,
    chroma_url: str,
    alt_url: str | None,
    batch: int,
    search: dict[str, float],
    log_dir: Path,
    pacing: dict[str, float] | None = None,
    compare_unpaced: bool = False,
) -> dict:
    from indexer.domain import ProductState, apply, document_of
    from marcus_contracts import STREAM_FIELD, StreamNames
    from marcus_eventstore.migrations import upgrade
    from marcus_search import HashingEmbedder
    from marcus_search.chroma import connect, create_collection

    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    db = f"bench_index_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    url = base_url.rsplit("/", 1)[0] + f"/{db}"
    sa_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    upgrade("indexer", sa_url)
    upgrade("assistant", sa_url)
    redis = aioredis.from_url(redis_url)
    try:
        pairs = events(count)
        stream = StreamNames(prefix).events("catalog")
        for start in range(0, count, 1000):
            async with redis.pipeline(transaction=False) as pipe:
                for envelope, _ in pairs[start : start + 1000]:
                    pipe.xadd(stream, {STREAM_FIELD: envelope.to_json()})
                await pipe.execute()

        # ceiling: the same documents, same batches, straight into Chroma
        embedder = HashingEmbedder(256)
        client = await connect(chroma_url)
        collection = await create_collection(client, f"ceiling-{uuid.uuid4().hex[:8]}")
        states = [apply(ProductState(e.product_id), env, e) for env, e in pairs]
        started = time.perf_counter()
        for start in range(0, count, batch):
            docs = [document_of(s) for s in states[start : start + batch] if s]
            vectors = await embedder.embed([d.text for d in docs])
            await collection.upsert(
                ids=[d.id for d in docs],
                embeddings=vectors,  # type: ignore[arg-type]
                documents=[d.searchable_text for d in docs],
                metadatas=[d.metadata for d in docs],
            )
        ceiling_s = time.perf_counter() - started
        await client.delete_collection(collection.name)

        def both(paced: dict[str, float]) -> Any:
            return rebuild_and_search(
                count,
                sa_url,
                redis_url,
                prefix,
                (chroma_url, alt_url),
                batch,
                search,
                log_dir,
                paced,
            )

        unpaced = None
        if compare_unpaced:
            unpaced = await both({"chunk": 0, "gap": 0.0})
            unpaced["ratio"] = round(ceiling_s / unpaced["rebuild_seconds"], 3)
        pacing = pacing or {}
        row = await both(pacing)
        clients = [client] + ([await connect(alt_url)] if alt_url else [])
        for each in clients:
            for found in await each.list_collections():
                if found.name.startswith(prefix.rstrip(":")):
                    await each.delete_collection(found.name)
    finally:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
        engine = create_async_engine(sa_url)
        await engine.dispose()
        with psycopg.connect(base_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    out = {
        "products": count,
        "chroma_servers": 2 if alt_url else 1,
        "batch": batch,
        "ceiling_docs_per_s": round(count / ceiling_s, 1),
        "ceiling_seconds": round(ceiling_s, 2),
        "ratio": round(ceiling_s / row["rebuild_seconds"], 3),
        **row,
    }
    if "rebuild_under_search_seconds" in row:
        out["under_search_ratio"] = round(ceiling_s / row["rebuild_under_search_seconds"], 3)
    if unpaced is not None:
        if "rebuild_under_search_seconds" in unpaced:
            unpaced["under_search_ratio"] = round(
                ceiling_s / unpaced["rebuild_under_search_seconds"], 3
            )
        out["unpaced"] = unpaced
    return out


async def rebuild_and_search(
    count: int,
    sa_url: str,
    redis_url: str,
    prefix: str,
    chroma: tuple[str, str | None],
    batch: int,
    search: dict[str, float],
    log_dir: Path,
    pacing: dict[str, float],
) -> dict[str, Any]:
    """A rebuild alone (in this process), then search idle and during a second one."""
    from indexer.cli import reindex
    from indexer.settings import IndexerSettings

    paced: dict[str, float] = {}
    if "chunk" in pacing:
        paced["rebuild_write_chunk"] = int(pacing["chunk"])
    if "gap" in pacing:
        paced["rebuild_write_gap"] = pacing["gap"]
    settings = IndexerSettings(
        database_url=sa_url,
        redis_url=redis_url,
        stream_prefix=prefix,
        chroma_url=chroma[0],
        chroma_alt_url=chroma[1],
        index_namespace=prefix,
        embedder="hash",
        rebuild_batch=batch,
        consumer_enabled=False,
        **_replay(),
        **paced,
    )
    run = await reindex(settings)
    assert run.status == "done" and run.documents == count, run
    rebuild_s = float(run.seconds or 0)
    env = {key.upper(): str(value) for key, value in paced.items()}
    under_search = await search_during_rebuild(
        count, sa_url, redis_url, prefix, chroma, batch, search, log_dir, env
    )
    return {
        "write_chunk": settings.rebuild_write_chunk,
        "write_gap": settings.rebuild_write_gap,
        "rebuild_docs_per_s": round(count / rebuild_s, 1),
        "rebuild_seconds": round(rebuild_s, 2),
        **under_search,
    }


async def search_during_rebuild(
    count: int,
    database_url: str,
    redis_url: str,
    prefix: str,
    chroma: tuple[str, str | None],
    batch: int,
    search: dict[str, float],
    log_dir: Path,
    pacing_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Search latency idle vs during a second rebuild (a `reindex` process)."""
    env = service_env(
        database_url,
        redis_url,
        prefix,
        CHROMA_URL=chroma[0],
        CHROMA_ALT_URL=chroma[1] or "",
        EMBEDDER="hash",
        REBUILD_BATCH=str(batch),
        REBUILD_SOURCE="replay",
        CONSUMER_ENABLED="false",
        CHAT_ENABLED="false",
        **(pacing_env or {}),
    )
    rate, seconds = search["rate"], search["seconds"]
    with processes() as procs:
        procs.append(ServiceProcess("assistant", env, log_dir, f"rebuild-{count}-assistant"))
        await procs[0].wait_ready()
        async with httpx.AsyncClient(base_url=procs[0].url, timeout=30) as http:
            await searches(http, rate, asyncio.create_task(asyncio.sleep(2)))  # warm-up
            idle = await searches(http, rate, asyncio.create_task(asyncio.sleep(seconds)))
            log = log_dir / f"rebuild-{count}-reindex.log"
            with log.open("wb") as reindex_log:
                started = time.perf_counter()
                proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "indexer",
                    "reindex",
                    env=env,
                    stdout=reindex_log,
                    stderr=reindex_log,
                )
                during = await searches(http, rate, asyncio.create_task(proc.wait()))
                wall_s = time.perf_counter() - started
            printed = log.read_text(errors="replace")
            if proc.returncode != 0:
                raise RuntimeError(f"reindex exited {proc.returncode}:\n{printed[-3000:]}")
    match = re.search(r"in ([0-9.]+)s; active collection", printed)
    second_s = float(match.group(1)) if match else wall_s
    out: dict[str, Any] = {
        "search_rate_per_s": rate,
        "search_idle": idle,
        "search_during_rebuild": during,
        "rebuild_under_search_docs_per_s": round(count / second_s, 1),
        "rebuild_under_search_seconds": round(second_s, 2),
    }
    if "p50_ms" in idle and "p50_ms" in during:
        out["search_p50_ratio"] = round(during["p50_ms"] / idle["p50_ms"], 2)
        out["search_p99_ratio"] = round(during["p99_ms"] / idle["p99_ms"], 2)
    return out


async def searches(http: httpx.AsyncClient, rate: float, until: asyncio.Task) -> dict[str, Any]:
    """Searches at `rate`/s until `until` is done: latency summary and failures. Open
    loop, but at most `IN_FLIGHT` outstanding: a search due while that many wait is
    skipped and counted (a saturated assistant shows as skips, and the load generator
    never drowns in its own queue)."""
    latencies: list[float] = []
    failures: list[str] = []
    skipped = 0
    outstanding: set[asyncio.Task] = set()

    async def one(query: str) -> None:
        started = time.perf_counter()
        try:
            response = await http.get(
                "/api/v1/search", params={"q": query, "k": 10, "mode": "hybrid"}
            )
        except httpx.HTTPError as exc:
            failures.append(type(exc).__name__)
            return
        if response.status_code != 200 or not response.json()["results"]:
            failures.append(str(response.status_code))
            return
        latencies.append(time.perf_counter() - started)

    started = time.monotonic()
    sent = 0
    while not until.done():
        due = started + sent / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.wait({until}, timeout=delay)
            continue
        sent += 1
        if len(outstanding) >= IN_FLIGHT:
            skipped += 1
            continue
        task = asyncio.create_task(one(QUERIES[sent % len(QUERIES)]))
        outstanding.add(task)
        task.add_done_callback(outstanding.discard)
    await until
    await asyncio.gather(*outstanding)
    summary: dict[str, Any] = {
        "searches": len(latencies),
        "failed": len(failures),
        "skipped": skipped,
        "seconds": round(time.monotonic() - started, 2),
    }
    if latencies:
        summary |= summary_ms(latencies)
    return summary


async def run(
    args: argparse.Namespace, chroma_url: str, alt_url: str | None, log_dir: Path
) -> list[dict]:
    rows = []
    search = {"rate": args.search_rate, "seconds": args.search_s}
    pacing = {}
    if args.write_chunk is not None:
        pacing["chunk"] = args.write_chunk
    if args.write_gap is not None:
        pacing["gap"] = args.write_gap
    for count in args.products:
        row = await measure(
            count,
            libpq_dsn(args.database_url),
            args.redis_url,
            chroma_url,
            alt_url,
            args.batch,
            search,
            log_dir,
            pacing,
            args.compare_unpaced,
        )
        idle, during = row["search_idle"], row["search_during_rebuild"]
        print(
            f"rebuild {count}: {row['rebuild_docs_per_s']} docs/s, {row['ratio']} of the "
            f"ceiling; search p50/p99 idle {idle.get('p50_ms')}/{idle.get('p99_ms')} ms, "
            f"during a rebuild {during.get('p50_ms')}/{during.get('p99_ms')} ms "
            f"(write chunk {row['write_chunk']}, gap {row['write_gap']}); "
            f"under search {row.get('under_search_ratio')} of the ceiling; "
            f"{row['chroma_servers']} Chroma server(s)",
            flush=True,
        )
        if "unpaced" in row:
            old = row["unpaced"]
            print(
                f"  unpaced: {old['ratio']} of the ceiling; search p99 idle "
                f"{old['search_idle'].get('p99_ms')} ms, during {old['search_during_rebuild'].get('p99_ms')}"
                f" ms; under search {old.get('under_search_ratio')} of the ceiling",
                flush=True,
            )
        rows.append(row)
    return rows
