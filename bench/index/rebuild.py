"""Rebuild throughput of the indexer as a ratio of the raw embed+upsert ceiling.

Measured in one run, on the bench's Chroma server, the local PostgreSQL and Redis,
hash embedder:

- ceiling: the N products' documents embedded and upserted into a fresh collection in
  the same batches a rebuild uses, straight from memory: no events, no PostgreSQL.
- rebuild: `events.catalog` holding one `catalog.product.created` per product (N
  events); a rebuild run replays it (XRANGE pages, fold, guarded writes, switch).

Target: rebuild >= 80% of the ceiling. The rebuild runs in this process (the same
`reindex` as `python -m indexer reindex`), so there is no HTTP or process start in it.

    python -m bench.index rebuild --products 10000 100000
"""

from __future__ import annotations

import argparse
import time
import uuid
from decimal import Decimal

import psycopg
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import create_async_engine

from marcus_eventstore.migrations import libpq_dsn


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
                metadatas=[d.metadata for d in docs],
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


async def run(args: argparse.Namespace, chroma_url: str) -> list[dict]:
    rows = []
    for count in args.products:
        row = await measure(
            count, libpq_dsn(args.database_url), args.redis_url, chroma_url, args.batch
        )
        print(
            f"rebuild {count}: {row['rebuild_docs_per_s']} docs/s, {row['ratio']} of the ceiling",
            flush=True,
        )
        rows.append(row)
    return rows
