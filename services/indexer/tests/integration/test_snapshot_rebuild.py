"""Rebuilds from a catalog snapshot (issue 24): independent of the stream's history.

The catalog and the indexer are served on real sockets (the catalog's consumer answers
the snapshot requests, the indexer's relay publishes them); the rebuilds run in a runtime
of this test with the source under test, the served indexer's own worker being off.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import redis.asyncio as aioredis

from indexer.domain import document_of
from indexer.replay import read_page
from indexer.runtime import IndexerRuntime
from indexer.snapshot import SnapshotReader, snapshot_fold
from indexer.storage import runs as runs_store
from marcus_contracts import STREAM_FIELD, StreamNames, registry
from marcus_contracts.events.catalog import SnapshotCompleted
from marcus_search.chroma import connect, open_collection
from marcus_web.app import make_engine
from tests.support.search import catalog_snapshot, differences, seed_products
from tests.support.servers import wait_for
from tests.support.stack import Stack as SearchStack
from tests.support.stack import indexer_settings, search_stack


async def _change(s: SearchStack, product: dict[str, Any], i: int) -> None:
    """One change: a rename and new price, or a stock adjustment (every other time)."""
    pid = product["id"]
    if i % 2:
        response = await s.catalog.put(
            f"/api/v1/products/{pid}/stock", json={"stock": i % 9}, headers=s.admin
        )
    else:
        response = await s.catalog.patch(
            f"/api/v1/products/{pid}",
            json={"name": f"Trail lamp {pid[:8]} mark {i}", "price": f"{30 + i % 7}.50"},
            headers=s.admin,
        )
    assert response.status_code == 200, response.text


async def _lag_zero(s: SearchStack) -> bool:
    response = await s.indexer.get("/api/v1/admin/index", headers=s.admin)
    body = response.json()
    return response.status_code == 200 and body["lag"]["total"] == 0


@asynccontextmanager
async def _runtime(
    db: str, redis_url: str, prefix: str, chroma: str, source: str
) -> AsyncIterator[IndexerRuntime]:
    settings = indexer_settings(db, redis_url, prefix, chroma, rebuild_source=source)
    engine = make_engine(settings)
    redis = aioredis.from_url(redis_url)
    try:
        runtime = IndexerRuntime(settings, engine, redis)
        await runtime.connect()
        yield runtime
    finally:
        await redis.aclose()
        await engine.dispose()


async def _rebuild(
    db: str, redis_url: str, prefix: str, chroma: str, source: str
) -> runs_store.Run:
    async with _runtime(db, redis_url, prefix, chroma, source) as runtime:
        assert runtime.worker is not None
        async with runtime.sessions.begin() as session:
            requested = await runs_store.request(session, uuid.uuid4(), f"test:{source}")
        assert await runtime.worker.run_pending() == requested.id
        async with runtime.sessions() as session:
            run = await runs_store.get(session, requested.id)
    assert run is not None and run.status == "done", run
    return run


async def _documents(chroma_url: str, collection: str) -> dict[str, tuple[str, dict]]:
    """id -> (embedded text, metadata) of every document of `collection`."""
    client = await connect(chroma_url)
    found = await (await open_collection(client, collection)).get(
        include=["metadatas", "documents"]  # type: ignore[list-item]
    )
    return {
        pid: (text, dict(meta))
        for pid, text, meta in zip(
            found["ids"], found["documents"] or [], found["metadatas"] or [], strict=True
        )
    }


async def test_a_rebuild_after_the_stream_was_trimmed_equals_a_full_replay(
    clean_database, redis_url, stream_prefix, chroma_url, redis_client
) -> None:
    async with search_stack(
        clean_database, redis_url, stream_prefix, chroma_url, rebuild_enabled=False
    ) as s:
        products = await seed_products(s.catalog, s.admin, 24, "SNAP", name="Trail lamp")
        for i, product in enumerate(products * 2):
            await _change(s, product, i)
        gone = await s.catalog.delete(f"/api/v1/products/{products[3]['id']}", headers=s.admin)
        assert gone.status_code == 204, gone.text
        await wait_for(lambda: _lag_zero(s), within=90, what="the live index caught up")

        replayed = await _rebuild(clean_database, redis_url, stream_prefix, chroma_url, "replay")
        full_replay = await _documents(chroma_url, str(replayed.collection))

        stream = StreamNames(stream_prefix).events("catalog")
        entries = await redis_client.xrange(stream)
        middle = entries[len(entries) // 2][0]
        removed = await redis_client.xtrim(stream, minid=middle, approximate=False)
        assert removed == len(entries) // 2
        first = (await redis_client.xrange(stream, count=1))[0][0]
        assert first == middle, "the stream no longer starts at its first entry"

        snapshotted = await _rebuild(
            clean_database, redis_url, stream_prefix, chroma_url, "snapshot"
        )
        from_snapshot = await _documents(chroma_url, str(snapshotted.collection))

        assert from_snapshot == full_replay
        assert len(from_snapshot) == 23
        catalog = await catalog_snapshot(s.catalog)
        assert differences(catalog, {k: meta for k, (_, meta) in from_snapshot.items()}) == []

        # what the snapshot avoids: a replay of the trimmed stream misses products
        short = await _rebuild(clean_database, redis_url, stream_prefix, chroma_url, "replay")
        partial = await _documents(chroma_url, str(short.collection))
        assert differences(catalog, {k: meta for k, (_, meta) in partial.items()}) != []


async def test_a_snapshot_taken_while_products_change_loses_no_change(
    clean_database, redis_url, stream_prefix, chroma_url, redis_client
) -> None:
    """The catalog writes the snapshot two products at a time while changes commit; the
    snapshot plus the catch-up from its marker's position equal the catalog afterwards."""
    async with search_stack(
        clean_database,
        redis_url,
        stream_prefix,
        chroma_url,
        rebuild_enabled=False,
        catalog={"snapshot_page": 2},
    ) as s:
        products = await seed_products(s.catalog, s.admin, 40, "SNAP", name="Trail lamp")
        stop = asyncio.Event()
        writes = 0

        async def write_loop() -> None:
            nonlocal writes
            i = 0
            while not stop.is_set():
                await _change(s, products[(i * 7) % len(products)], i)
                writes += 1
                i += 1

        writer = asyncio.create_task(write_loop())
        await wait_for(lambda: writes >= 5, within=60, what="writes under way")
        async with _runtime(
            clean_database, redis_url, stream_prefix, chroma_url, "snapshot"
        ) as runtime:
            fold = await snapshot_fold(
                runtime.sessions, runtime.redis, runtime.names, uuid.uuid4(), timeout_s=120
            )
        position = fold.last_id
        at_marker = writes
        await wait_for(lambda: writes >= at_marker + 5, within=60, what="writes after the marker")
        stop.set()
        await writer

        stream = StreamNames(stream_prefix).events("catalog")
        after = await redis_client.xrange(stream, min=f"({position}", max="+")
        assert after, "changes were committed after the snapshot's position"
        while entries := await read_page(redis_client, stream, fold.last_id, 100):
            fold.add(entries)

        catalog = await catalog_snapshot(s.catalog)
        assert set(catalog) == {str(pid) for pid in fold.states}
        for pid, state in fold.states.items():
            product = catalog[str(pid)]
            meta = document_of(state).metadata
            assert meta["name"] == product["name"], pid
            assert Decimal(str(meta["price_exact"])) == Decimal(str(product["price"])), pid
            assert meta["in_stock"] == (product["stock"] > 0), pid
            assert (state.stock, state.sequence) == (product["stock"], product["version"]), pid


async def test_the_reader_takes_the_first_complete_attempt(redis_client, stream_prefix) -> None:
    """A request redelivered to a second catalog replica is answered twice on one stream:
    the attempt whose marker arrives with all its products is the one folded."""
    from marcus_contracts.events.catalog import CategoryRef, ProductSnapshotted

    request_id = uuid.uuid4()
    stream = StreamNames(stream_prefix).snapshot("catalog", request_id)
    first, second = uuid.uuid4(), uuid.uuid4()
    category = CategoryRef(id=uuid.uuid4(), slug="c", name="C")

    def product(attempt: uuid.UUID, n: int) -> dict[str, str]:
        event = ProductSnapshotted(
            product_id=uuid.UUID(int=n),
            sku=f"S-{n}",
            name=f"Lamp {n} ({'first' if attempt == first else 'second'})",
            price=Decimal("10.00"),
            currency="EUR",
            category=category,
            stock=n,
            request_id=request_id,
            attempt=attempt,
        )
        envelope = registry.envelope(event, subject=str(event.product_id), sequence=n)
        return {STREAM_FIELD: envelope.to_json()}

    def marker(attempt: uuid.UUID, products: int) -> dict[str, str]:
        event = SnapshotCompleted(
            request_id=request_id,
            attempt=attempt,
            products=products,
            position="5-0",
            taken_at="2026-01-01T00:00:00Z",  # type: ignore[arg-type]
        )
        return {
            STREAM_FIELD: registry.envelope(event, subject=str(request_id), sequence=1).to_json()
        }

    # the first replica died after two of three products; the second wrote all three
    for fields in (product(first, 1), product(second, 1), product(first, 2)):
        await redis_client.xadd(stream, fields)
    reader = SnapshotReader(redis_client, stream)
    await reader.read(block_ms=10)
    assert reader.complete() is None
    for fields in (product(second, 2), product(second, 3), marker(second, 3)):
        await redis_client.xadd(stream, fields)
    await reader.read(block_ms=10)
    done = reader.complete()
    assert done is not None
    fold, completed = done
    assert completed.attempt == second and completed.position == "5-0"
    assert sorted(s.snapshot["name"] for s in fold.states.values() if s.snapshot) == [
        "Lamp 1 (second)",
        "Lamp 2 (second)",
        "Lamp 3 (second)",
    ]
