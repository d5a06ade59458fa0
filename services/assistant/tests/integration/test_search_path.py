"""The search service's fast path gives the answers of the plain computation: hybrid hits
equal score fusion over fully described candidates, kept collection handles follow the alias to a
new collection, query embeddings are reused within a bounded cache, and searches arriving
together share their calls (ADR 0028) with the answers each gets alone."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from decimal import Decimal
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from assistant import ranking
from assistant.search import QUERY_VECTORS, Filters, Hit, SearchService
from marcus_search import (
    ALT,
    ActiveIndex,
    AliasStore,
    CollectionName,
    EmbedderConfig,
    EmbedderPool,
    HashingEmbedder,
    IndexServers,
    MiniLMEmbedder,
    local_model_available,
)
from marcus_search.chroma import AsyncCollection, connect, create_collection, open_collection
from tests.support.seeded_index import index_seed
from tests.support.servers import free_port

QUERIES = [
    "Tetsubin",
    "espresso machine",
    "rain jacket waterproof",
    "green tea from Japan",
    "the a of",
    "kitchen knife",
    "trail running shoes",
]
FILTERS = [
    Filters(),
    Filters(in_stock=True),
    Filters(category="tea"),
    Filters(max_price=Decimal("30")),
    Filters(category="coffee", max_price=Decimal("250.00")),
]


@pytest.fixture
async def service(clean_database, redis_url, stream_prefix, chroma_url):
    await index_seed(clean_database, redis_url, chroma_url, stream_prefix, "hash")
    redis = aioredis.from_url(redis_url)

    try:
        yield SearchService(
            IndexServers(chroma_url, max_connections=4),
            AliasStore(redis, stream_prefix),
            EmbedderPool(EmbedderConfig(kind="hash")),
        )
    finally:
        await redis.aclose()


async def plain_hybrid(
    collection: AsyncCollection, query: str, vector: list[float], k: int, filters: Filters
) -> list[Hit]:
    """Hybrid search as first written: every candidate read with its metadata."""
    n = max(k, 50)
    result = await collection.query(
        query_embeddings=[vector],  # type: ignore[arg-type]
        n_results=n,
        where=filters.where(),
        include=["metadatas", "distances"],
    )
    semantic = [
        (pid, dict(meta or {}), 1.0 - float(dist))
        for pid, meta, dist in zip(
            result["ids"][0],
            (result["metadatas"] or [[]])[0],
            (result["distances"] or [[]])[0],
            strict=True,
        )
        if filters.accepts(dict(meta or {}))
    ]
    keyword: list[tuple[str, dict[str, Any], float]] = []
    terms = ranking.query_terms(query)
    if terms:
        contains = [{"$contains": term} for term in terms]
        found = await collection.get(
            where=filters.where(),
            where_document=contains[0] if len(contains) == 1 else {"$or": contains},  # type: ignore[arg-type]
            limit=500,
            include=["documents", "metadatas"],
        )
        metadatas = {
            pid: dict(meta or {})
            for pid, meta in zip(found["ids"], found["metadatas"] or [], strict=True)
        }
        documents = dict(zip(found["ids"], found["documents"] or [], strict=True))
        scored = ranking.bm25(terms, documents, await collection.count())
        keyword = [
            (pid, metadatas[pid], score) for pid, score in scored if filters.accepts(metadatas[pid])
        ][:n]
    metadata = {pid: meta for pid, meta, _ in semantic} | {pid: m for pid, m, _ in keyword}
    named = {pid for pid, m, _ in keyword if ranking.names_query(terms, str(m.get("name")))}
    fused = ranking.score_fusion(
        [(pid, sim) for pid, _, sim in semantic],
        [(pid, s) for pid, _, s in keyword],
        ranking.keyword_weight("hash"),
        named=named,
    )
    return [Hit.of(pid, metadata[pid], score) for pid, score in fused[:k]]


async def test_hybrid_hits_equal_fusion_over_fully_read_candidates(
    service: SearchService, chroma_url: str
) -> None:
    active = await service.alias.read()
    assert active is not None
    collection = await open_collection(await connect(chroma_url), active.collection)
    embedder = HashingEmbedder(active.dimension)
    answered = 0
    for query in QUERIES:
        [vector] = await embedder.embed([query])
        for filters in FILTERS:
            for k in (3, 10, 60):
                got = await service.search(query, k, filters, hybrid=True)
                expected = await plain_hybrid(collection, query, vector, k, filters)
                assert got.hits == expected, (query, filters, k)
                answered += bool(expected)
    assert answered > len(QUERIES) * len(FILTERS)


async def test_a_kept_handle_of_a_dropped_collection_follows_the_alias(
    service: SearchService, chroma_url: str
) -> None:
    before = await service.search("espresso machine", 5, Filters(), hybrid=True)
    assert before.hits
    client = await connect(chroma_url)
    old = await open_collection(client, before.collection)
    everything = await old.get(include=["embeddings", "documents", "metadatas"])
    name = CollectionName.parse(before.collection)
    successor = str(replace(name, run=f"copy-{uuid.uuid4().hex[:8]}"))
    new = await create_collection(client, successor)
    await new.upsert(
        ids=everything["ids"],
        embeddings=everything["embeddings"],  # type: ignore[arg-type]
        documents=everything["documents"],
        metadatas=everything["metadatas"],  # type: ignore[arg-type]
    )
    active = await service.alias.read()
    assert active is not None
    switched = ActiveIndex(
        collection=successor,
        embedder=active.embedder,
        dimension=active.dimension,
        activated_at=active.activated_at,
        generation=active.generation + 1,
    )
    assert await service.alias.write(switched)
    await client.delete_collection(before.collection)

    after = await service.search("espresso machine", 5, Filters(), hybrid=True)
    assert after.collection == successor
    assert after.hits == before.hits
    semantic = await service.search("espresso machine", 5, Filters(), hybrid=False)
    assert semantic.collection == successor and semantic.hits


async def test_readiness_needs_only_the_server_of_the_active_collection(
    service: SearchService, chroma_url: str, stream_prefix: str
) -> None:
    """An alternate Chroma server that does not answer leaves search ready while the
    active collection is on the main server; an alias naming a collection on that
    server fails readiness (ADR 0035)."""
    active = await service.alias.read()
    assert active is not None
    dead = f"http://127.0.0.1:{free_port()}"
    down = SearchService(IndexServers(chroma_url, dead), service.alias, service.embedders)
    await down.check()
    assert (await down.search("espresso machine", 3, Filters(), hybrid=True)).hits

    on_alt = ActiveIndex(
        collection=str(CollectionName.parse(active.collection).on(ALT)),
        embedder=active.embedder,
        dimension=active.dimension,
        activated_at=active.activated_at,
        generation=active.generation + 1,
    )
    elsewhere = AliasStore(service.alias.redis, f"{stream_prefix}alt-")
    assert await elsewhere.write(on_alt)
    try:
        pointed = SearchService(IndexServers(chroma_url, dead), elsewhere, service.embedders)
        with pytest.raises(httpx.ConnectError):
            await pointed.check()
        unset = SearchService(IndexServers(chroma_url), elsewhere, service.embedders)
        with pytest.raises(LookupError, match="CHROMA_ALT_URL is not set"):
            await unset.check()
    finally:
        await service.alias.redis.delete(elsewhere.key)


async def test_query_vectors_are_reused_and_bounded(service: SearchService) -> None:
    embedder = HashingEmbedder(64)
    first = await service._query_vector(embedder, "tea")
    assert await service._query_vector(embedder, "tea") is first
    assert first == (await embedder.embed(["tea"]))[0]
    other = await service._query_vector(HashingEmbedder(32), "tea")
    assert len(other) == 32
    for i in range(QUERY_VECTORS + 5):
        await service._query_vector(embedder, f"query {i}")
    assert len(service._vectors) == QUERY_VECTORS
    assert await service._query_vector(embedder, "tea") is not first


async def test_concurrent_searches_share_calls_and_answer_as_alone(
    service: SearchService,
) -> None:
    """Searches arriving together go to Chroma in shared queries (and one alias read),
    and each gets exactly the hits it gets alone, unbatched, in every mode."""
    alone = SearchService(service.servers, service.alias, service.embedders, batch=1)
    cases = [
        (query, filters, k, mode)
        for query in QUERIES
        for filters in FILTERS
        for k in (3, 10)
        for mode in ("semantic", "hybrid", "keyword")
    ]
    expected = [await alone.search_mode(q, k, f, m) for q, f, k, m in cases]  # type: ignore[arg-type]
    got = await asyncio.gather(
        *(service.search_mode(q, k, f, m) for q, f, k, m in cases)  # type: ignore[arg-type]
    )
    assert [r.hits for r in got] == [r.hits for r in expected]
    nearest = sum(mode != "keyword" for _, _, _, mode in cases)
    assert service.nearest.batcher.calls < nearest
    assert service.alias_reads.calls < len(cases) / 2
    assert alone.nearest.batcher.calls == nearest

    same_shape = [f"{a} {b}" for a in QUERIES for b in QUERIES]
    before = service.nearest.batcher.calls
    got = await asyncio.gather(
        *(service.search(q, 10, Filters(), hybrid=False) for q in same_shape)
    )
    for query, results in zip(same_shape, got, strict=True):
        assert results.hits == (await alone.search(query, 10, Filters(), hybrid=False)).hits
    assert service.nearest.batcher.calls - before <= len(same_shape) / 4


async def test_a_search_after_a_write_sees_it_while_others_are_batched(
    service: SearchService, chroma_url: str
) -> None:
    """Read-your-writes through batching: a search that starts after an upsert was
    acknowledged finds it, though searches sent before the upsert are still answering."""
    active = await service.alias.read()
    assert active is not None
    collection = await open_collection(await connect(chroma_url), active.collection)
    embedder = HashingEmbedder(active.dimension)
    text = "zanzibar clove grinder"
    [vector] = await embedder.embed([text])
    earlier = [asyncio.create_task(service.search(q, 5, Filters(), hybrid=False)) for q in QUERIES]
    await asyncio.sleep(0)
    pid = str(uuid.uuid4())
    await collection.upsert(
        ids=[pid],
        embeddings=[vector],  # type: ignore[arg-type]
        documents=[text],
        metadatas=[
            {
                "name": "Zanzibar clove grinder",
                "price": 9.5,
                "currency": "EUR",
                "category": "kitchen",
                "in_stock": True,
            }
        ],
    )
    later = await asyncio.gather(
        *(service.search(q, 5, Filters(), hybrid=False) for q in [text, *QUERIES])
    )
    await asyncio.gather(*earlier)
    assert later[0].hits[0].product_id == pid


@pytest.mark.skipif(not local_model_available(), reason="MiniLM not installed")
async def test_concurrent_minilm_queries_are_encoded_together_as_alone(
    service: SearchService,
) -> None:
    """Query texts arriving together are encoded in one call; each vector is the one
    its text gets encoded alone (to float rounding of a padded batch)."""
    embedder = MiniLMEmbedder()
    texts = [*QUERIES, "espresso machine", "a gift for a tea lover"]
    alone = [(await embedder.embed([text]))[0] for text in texts]
    calls_before = service.query_embeddings.calls
    together = await asyncio.gather(*(service._query_vector(embedder, t) for t in texts))
    assert service.query_embeddings.calls - calls_before < len(texts)
    for one, batched in zip(alone, together, strict=True):
        assert max(abs(a - b) for a, b in zip(one, batched, strict=True)) < 1e-4
    assert together[1] == together[7]  # the same text, encoded once
