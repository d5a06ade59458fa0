"""`make bench-index`: rebuild throughput of the indexer as a ratio of the raw ceiling.

Measured in one run, on one Chroma server (`chroma run`, temp folder), the local
PostgreSQL and Redis, hash embedder:

- ceiling: the N products' documents embedded and upserted into a fresh collection in
  the same batches a rebuild uses, straight from memory: no events, no PostgreSQL.
- rebuild: `events.catalog` holding one `catalog.product.created` per product (N
  events); a rebuild run replays it (XRANGE pages, fold, guarded writes, switch).

Target: rebuild >= 80% of the ceiling. Results: bench/results/index-<timestamp>.json
and .md (machine, versions, command). Not yet here: freshness p50/p99 per embedder and
scale-out with 1-3 consumers (see docs/architecture.md, "Search").

    python -m bench.index --products 10000 100000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import sys
import time
import uuid
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path

import psycopg
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def events(count: int) -> list:
    from marcus_contracts import registry
    from marcus_contracts.events.catalog import CategoryRef, ProductCreatedV2

    categories = [
        CategoryRef(id=uuid.uuid4(), slug=f"cat-{i}", name=f"Category {i}") for i in range(12)
    ]
    out = []
    for i in range(count):
        pid = uuid.uuid4()
        event = ProductCreatedV2(
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


async def measure(count: int, base_url: str, redis_url: str, chroma_url: str, batch: int) -> dict:
    from indexer.cli import reindex
    from indexer.domain import ProductState, apply, document_of
    from indexer.settings import IndexerSettings
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
                metadatas=[d.metadata for d in docs],  # type: ignore[misc]
            )
        ceiling_s = time.perf_counter() - started
        await client.delete_collection(collection.name)

        settings = IndexerSettings(
            database_url=sa_url,
            redis_url=redis_url,
            stream_prefix=prefix,
            chroma_url=chroma_url,
            index_namespace=prefix,
            embedder="hash",
            rebuild_batch=batch,
            consumer_enabled=False,
        )
        run = await reindex(settings)
        assert run.status == "done" and run.documents == count, run
        rebuild_s = float(run.seconds or 0)
        await client.delete_collection(str(run.collection))
    finally:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
        engine = create_async_engine(sa_url)
        await engine.dispose()
        with psycopg.connect(base_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    return {
        "products": count,
        "batch": batch,
        "ceiling_docs_per_s": round(count / ceiling_s, 1),
        "rebuild_docs_per_s": round(count / rebuild_s, 1),
        "rebuild_seconds": round(rebuild_s, 2),
        "ceiling_seconds": round(ceiling_s, 2),
        "ratio": round(ceiling_s / rebuild_s, 3),
    }


async def main(args: argparse.Namespace) -> dict:
    sys.path.insert(0, str(ROOT))
    from tests.support.chroma import ChromaProcess

    chroma = ChromaProcess()
    chroma.start()
    try:
        rows = [
            await measure(n, args.database_url, args.redis_url, chroma.url, args.batch)
            for n in args.products
        ]
    finally:
        chroma.remove()
    return {
        "benchmark": "index rebuild vs raw ceiling (hash embedder)",
        "command": " ".join(sys.argv),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "versions": {p: version(p) for p in ("chromadb", "redis", "sqlalchemy", "psycopg")},
        "rebuild": rows,
        "target": "rebuild >= 0.8 of the ceiling",
    }


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.index")
    parser.add_argument("--products", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    result = asyncio.run(main(args))
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"index-{stamp}.json").write_text(json.dumps(result, indent=2))
    lines = [
        f"# Index rebuild benchmark ({stamp})",
        "",
        f"`{result['command']}` on {result['machine']['platform']}, {result['machine']['cpus']} CPUs; "
        f"chromadb {result['versions']['chromadb']}. Target: {result['target']}.",
        "",
        "| products | ceiling docs/s | rebuild docs/s | rebuild s | ratio |",
        "|---:|---:|---:|---:|---:|",
        *(
            f"| {r['products']} | {r['ceiling_docs_per_s']} | {r['rebuild_docs_per_s']} | {r['rebuild_seconds']} | {r['ratio']} |"
            for r in result["rebuild"]
        ),
    ]
    (RESULTS / f"index-{stamp}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    cli()
