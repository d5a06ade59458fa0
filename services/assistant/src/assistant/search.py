"""Semantic and hybrid product search, and similar products, over the active collection.

Which collection is active comes from the Redis alias the indexer maintains (never from
the indexer's schema); its name says which embedder built it, so queries are embedded by
the same one. A rebuild drops the previous collection right after switching the alias:
a query that opened the old collection just before gets NotFound, re-reads the alias and
runs again on the new one, so search keeps answering through a rebuild.

Per request, the cost is Chroma round trips (each ~0.6 ms of this process's CPU in the
HTTP client, plus the server's own), so a search makes as few as it can: opened
collections are kept by name (a handle of a dropped collection raises `NotFoundError`,
which forgets it and reads the alias again), query embeddings are kept in a bounded LRU,
a collection's size (BM25's document count) is counted at most once a second
(`index_sizes`), and a hybrid query's calls run concurrently. Requests that arrive together share calls
(`marcus_search.batching`): their nearest-neighbour queries of one collection, size and
filter go to Chroma as one query of several embeddings, and their MiniLM or OpenAI query
embeddings as one encode (the hashing embedder is cheaper than a batch's hop), and
their alias reads as one GET. A call carries only requests that arrived before it was
sent (a request never joins a call in flight), so each still sees every write
acknowledged before it arrived; Chroma answers each embedding of a query exactly as it
would alone. Chroma spends most of a query's CPU reading
metadata (50 candidates: 4.0 ms with metadata, 1.3 ms without), so hybrid candidates are
ranked by id and distance only and metadata is read for the k answers alone, most of
which the keyword candidates (fetched with their metadata anyway) already describe.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, TypeVar

from assistant import ranking
from assistant.constraints import ParsedQuery
from assistant.index_sizes import IndexSizes
from marcus_search import (
    HASH,
    MAIN,
    MINILM,
    ActiveIndex,
    AliasStore,
    Embedder,
    EmbedderPool,
    EmbedderUnavailable,
    IndexServers,
)
from marcus_search.batching import MicroBatcher
from marcus_search.chroma import AsyncCollection, NotFoundError, open_collection

Mode = Literal["semantic", "keyword", "hybrid"]
CHAT_MODE: Mode = "hybrid"
"""The ranking the chat (its tool and its offline answer) searches with: the mode that
measured best on the relevance set (bench/relevance.py, docs/benchmarks.md)."""
T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")
CENT = Decimal("0.01")
"""Prices have the catalog's format everywhere: two decimals (12.5 is 12.50)."""
KEYWORD_FETCH_LIMIT = 500
ATTEMPTS = 3
OPEN_COLLECTIONS = 4
"""Collection handles kept: the active one and, during a rebuild, its successor."""
QUERY_VECTORS = 1024
"""Query embeddings kept (LRU): a repeated query costs no embedding (an OpenAI call or
~30 ms of MiniLM CPU)."""
ALIAS_READERS = 1024
"""Requests answered by one alias GET, at most (one GET in flight at a time)."""
UNBATCHED_IN_FLIGHT = 1024
"""With SEARCH_BATCH=1: no bound of ours (the connection pools bound the calls)."""
REMOTE_EMBEDS_IN_FLIGHT = 4
QUERY_CALLS_IN_FLIGHT = 2
"""Chroma queries of one shape out at once; requests beyond wait and go together."""


class IndexUnavailable(Exception):
    """No active collection yet, or its embedder cannot run here: answer 503."""


class UnknownProduct(Exception):
    """The product is not in the index (never existed, deleted, or not indexed yet)."""


@dataclass(frozen=True)
class Filters:
    category: str | None = None
    max_price: Decimal | None = None
    min_price: Decimal | None = None
    in_stock: bool | None = None

    @classmethod
    def of(cls, parsed: ParsedQuery, explicit: Filters | None = None) -> Filters:
        """The parsed constraints, each overridden by an explicit one (given: not None)."""
        given = explicit or cls()
        return cls(
            category=given.category if given.category is not None else parsed.category,
            max_price=given.max_price if given.max_price is not None else parsed.max_price,
            min_price=given.min_price if given.min_price is not None else parsed.min_price,
            in_stock=given.in_stock if given.in_stock is not None else parsed.in_stock,
        )

    def where(self) -> dict[str, Any] | None:
        conditions: list[dict[str, Any]] = []
        if self.category is not None:
            conditions.append({"category": self.category})
        if self.max_price is not None:
            conditions.append({"price": {"$lte": float(self.max_price)}})
        if self.min_price is not None:
            conditions.append({"price": {"$gte": float(self.min_price)}})
        if self.in_stock is not None:
            conditions.append({"in_stock": self.in_stock})
        if not conditions:
            return None
        return conditions[0] if len(conditions) == 1 else {"$and": conditions}

    @property
    def priced(self) -> bool:
        """A price bound: its exact check needs each candidate's metadata."""
        return self.max_price is not None or self.min_price is not None

    def accepts(self, metadata: dict[str, Any]) -> bool:
        """Exact check in Decimal (the `$lte`/`$gte` filters compare floats)."""
        if not self.priced:
            return True
        price = Decimal(str(metadata.get("price_exact", metadata.get("price", 0))))
        if self.max_price is not None and price > self.max_price:
            return False
        return self.min_price is None or price >= self.min_price


@dataclass(frozen=True)
class Hit:
    product_id: str
    name: str
    price: Decimal
    currency: str
    category: str
    in_stock: bool
    score: float

    @classmethod
    def of(cls, product_id: str, metadata: dict[str, Any], score: float) -> Hit:
        return cls(
            product_id=product_id,
            name=str(metadata.get("name", "")),
            price=Decimal(str(metadata.get("price_exact", metadata.get("price", "0")))).quantize(
                CENT
            ),
            currency=str(metadata.get("currency", "")),
            category=str(metadata.get("category", "")),
            in_stock=bool(metadata.get("in_stock", False)),
            score=round(score, 6),
        )


@dataclass(frozen=True)
class ProductDoc:
    """A product as the index holds it: its answer fields and its stored text (the
    document is kept lower-cased by the indexer, for keyword search)."""

    hit: Hit
    text: str


@dataclass(frozen=True)
class Lookup:
    collection: str
    embedder: str
    products: dict[str, ProductDoc]


@dataclass(frozen=True)
class Results:
    collection: str
    embedder: str
    hits: list[Hit]


NearestKey = tuple[str, int, str, tuple[str, ...]]
"""What queries must share to go as one: collection, n_results, `where` (JSON), include."""


@dataclass(frozen=True)
class Probe:
    """One nearest-neighbour query: its collection's handle, vector and filter."""

    collection: AsyncCollection
    vector: list[float]
    where: dict[str, Any] | None


@dataclass(frozen=True)
class Nearest:
    """One probe's answer, closest first (metadatas: None unless asked for)."""

    ids: list[str]
    distances: list[float]
    metadatas: list[dict[str, Any]] | None


async def _query_together(key: NearestKey, probes: list[Probe]) -> list[Nearest]:
    """The probes as one Chroma query (one embedding each): one answer per probe."""
    _, n, _, include = key
    first = probes[0]
    result = await first.collection.query(
        query_embeddings=[probe.vector for probe in probes],  # type: ignore[arg-type]
        n_results=n,
        where=first.where,
        include=list(include),  # type: ignore[arg-type]
    )
    ids = result["ids"] or [[] for _ in probes]
    distances = result.get("distances") or [[] for _ in probes]
    metadatas = result.get("metadatas")
    return [
        Nearest(
            ids=list(ids[i]),
            distances=[float(d) for d in distances[i]],
            metadatas=None if metadatas is None else [dict(m or {}) for m in metadatas[i]],
        )
        for i in range(len(probes))
    ]


class NearestQueries:
    """Nearest-neighbour queries to Chroma, the concurrent ones of one shape batched."""

    def __init__(self, batch: int) -> None:
        # unbatched (1): every query goes out at once, the connection pool the only bound
        in_flight = QUERY_CALLS_IN_FLIGHT if batch > 1 else UNBATCHED_IN_FLIGHT
        self.batcher: MicroBatcher[NearestKey, Probe, Nearest] = MicroBatcher(
            _query_together, max_batch=batch, max_in_flight=in_flight
        )

    async def query(
        self,
        collection: AsyncCollection,
        vector: list[float],
        n: int,
        filters: Filters,
        include: tuple[str, ...],
    ) -> Nearest:
        where = filters.where()
        key = (collection.name, n, json.dumps(where, sort_keys=True), include)
        return await self.batcher.submit(key, Probe(collection, vector, where))


async def _embed_together(embedder: Embedder, texts: list[str]) -> list[list[float]]:
    """One encode of the distinct texts, a vector per text."""
    distinct = list(dict.fromkeys(texts))
    vectors = dict(zip(distinct, await embedder.embed(distinct), strict=True))
    return [vectors[text] for text in texts]


class SearchService:
    def __init__(
        self,
        servers: IndexServers,
        alias: AliasStore,
        embedders: EmbedderPool,
        *,
        hybrid_candidates: int = 50,
        batch: int = 32,
    ) -> None:
        """`batch`: queries that may share a Chroma query or an encode (1: none share)."""
        self.servers = servers
        self._collections: OrderedDict[str, AsyncCollection] = OrderedDict()
        self._vectors: OrderedDict[tuple[str, int, str], list[float]] = OrderedDict()
        self.alias = alias
        self.embedders = embedders
        self.hybrid_candidates = hybrid_candidates
        self.nearest = NearestQueries(batch)
        self.sizes = IndexSizes()
        batched = batch > 1
        self.alias_reads: MicroBatcher[None, None, ActiveIndex | None] = MicroBatcher(
            self._read_alias,
            max_batch=ALIAS_READERS if batched else 1,
            max_in_flight=1 if batched else UNBATCHED_IN_FLIGHT,
        )
        self.query_embeddings: MicroBatcher[Embedder, str, list[float]] = MicroBatcher(
            _embed_together, max_batch=batch
        )
        """Local models (MiniLM): one encode at a time, as their threads allow anyway."""
        self.remote_embeddings: MicroBatcher[Embedder, str, list[float]] = MicroBatcher(
            _embed_together,
            max_batch=batch,
            max_in_flight=REMOTE_EMBEDS_IN_FLIGHT if batched else UNBATCHED_IN_FLIGHT,
        )
        """Embedding APIs (OpenAI): several calls out at once, each a round trip away."""

    async def check(self) -> None:
        """Readiness: the Chroma server that holds the active collection answers (the
        main one before any collection is active). The other server may be down without
        failing searches: only rebuilds need it."""
        active = await self.alias.read()
        if active is None:
            await self.servers.heartbeat(MAIN)
            return
        await (await self.servers.for_collection(active.collection)).heartbeat()

    async def _read_alias(self, _key: None, readers: list[None]) -> list[ActiveIndex | None]:
        """One GET for every request waiting: each arrived before it was sent."""
        active = await self.alias.read()
        return [active] * len(readers)

    async def _collection(self, name: str) -> AsyncCollection:
        """The collection's handle, opened once (a `get_collection` round trip saved per
        request); `_on_active` forgets it when Chroma says it is gone."""
        collection = self._collections.get(name)
        if collection is None:
            collection = await open_collection(await self.servers.for_collection(name), name)
            self._collections[name] = collection
            while len(self._collections) > OPEN_COLLECTIONS:
                self._collections.popitem(last=False)
        return collection

    async def _on_active(
        self, work: Callable[[ActiveIndex, AsyncCollection], Awaitable[T]]
    ) -> tuple[ActiveIndex, T]:
        for attempt in range(ATTEMPTS):
            active = await self.alias_reads.submit(None, None)
            if active is None:
                raise IndexUnavailable("the search index is not built yet")
            try:
                collection = await self._collection(active.collection)
                return active, await work(active, collection)
            except NotFoundError:
                self._collections.pop(active.collection, None)
                self.sizes.forget(active.collection)
                if attempt == ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _embedder(self, active: ActiveIndex) -> Embedder:
        name = active.name
        try:
            return self.embedders.for_collection(name.kind, name.dimension)
        except EmbedderUnavailable as exc:
            raise IndexUnavailable(str(exc)) from exc

    async def _query_vector(self, embedder: Embedder, query: str) -> list[float]:
        """The query's embedding, from the LRU when this embedder embedded it lately."""
        key = (embedder.name, embedder.dimension, query)
        vector = self._vectors.get(key)
        if vector is not None:
            self._vectors.move_to_end(key)
            return vector
        if embedder.kind == HASH:
            [vector] = await embedder.embed([query])
        elif embedder.kind == MINILM:
            vector = await self.query_embeddings.submit(embedder, query)
        else:
            vector = await self.remote_embeddings.submit(embedder, query)
        self._vectors[key] = vector
        while len(self._vectors) > QUERY_VECTORS:
            self._vectors.popitem(last=False)
        return vector

    async def search(self, query: str, k: int, filters: Filters, *, hybrid: bool) -> Results:
        return await self.search_mode(query, k, filters, "hybrid" if hybrid else "semantic")

    async def search_mode(self, query: str, k: int, filters: Filters, mode: Mode) -> Results:
        """The top k of one ranking: by meaning, by keywords (BM25), or both fused."""

        async def work(active: ActiveIndex, collection: AsyncCollection) -> list[Hit]:
            if mode == "keyword":
                keyword = await _keyword(collection, self.sizes, query, filters, k)
                return [Hit.of(pid, meta, score) for pid, meta, score in keyword]
            vector = await self._query_vector(self._embedder(active), query)
            if mode == "semantic":
                semantic = await _nearest(self.nearest, collection, vector, k, filters)
                return [Hit.of(pid, meta, 1.0 - dist) for pid, meta, dist in semantic][:k]
            n = max(k, self.hybrid_candidates)
            weight = ranking.keyword_weight(active.name.kind)
            return await _hybrid(
                self.nearest, self.sizes, collection, query, vector, k, n, filters, weight
            )

        active, hits = await self._on_active(work)
        return Results(active.collection, active.embedder, hits)

    async def similar(self, product_id: str, k: int, filters: Filters) -> Results:
        async def work(active: ActiveIndex, collection: AsyncCollection) -> list[Hit]:
            found = await collection.get(ids=[product_id], include=["embeddings"])
            embeddings = found.get("embeddings")
            if not found["ids"] or embeddings is None or len(embeddings) == 0:
                raise UnknownProduct(product_id)
            vector = [float(x) for x in embeddings[0]]
            nearest = await _nearest(self.nearest, collection, vector, k + 1, filters)
            return [
                Hit.of(pid, meta, 1.0 - dist) for pid, meta, dist in nearest if pid != product_id
            ][:k]

        active, hits = await self._on_active(work)
        return Results(active.collection, active.embedder, hits)

    async def products(self, product_ids: list[str]) -> Lookup:
        """The indexed products among these ids (absent: deleted or never indexed)."""

        async def work(active: ActiveIndex, collection: AsyncCollection) -> dict[str, ProductDoc]:
            if not product_ids:
                return {}
            found = await collection.get(
                ids=list(dict.fromkeys(product_ids)), include=["metadatas", "documents"]
            )
            metadatas = found.get("metadatas") or []
            documents = found.get("documents") or []
            return {
                pid: ProductDoc(Hit.of(pid, dict(meta or {}), 1.0), doc or "")
                for pid, meta, doc in zip(found["ids"], metadatas, documents, strict=True)
            }

        active, products = await self._on_active(work)
        return Lookup(active.collection, active.embedder, products)


async def _both(first: Awaitable[A], second: Awaitable[B]) -> tuple[A, B]:
    """Both results, the calls running concurrently; the first failure is raised once
    both finished (so no call is left running unobserved)."""
    a, b = await asyncio.gather(first, second, return_exceptions=True)
    if isinstance(a, BaseException):
        raise a
    if isinstance(b, BaseException):
        raise b
    return a, b


async def _hybrid(
    nearest_queries: NearestQueries,
    sizes: IndexSizes,
    collection: AsyncCollection,
    query: str,
    vector: list[float],
    k: int,
    n: int,
    filters: Filters,
    weight: float,
) -> list[Hit]:
    """The semantic and keyword rankings (n candidates each) fused by score
    (`ranking.score_fusion`), top k.

    Semantic candidates come without metadata unless the exact price check needs it;
    the fused top k that no candidate described are read afterwards, in one `get`
    (a product deleted in between is left out: it is no longer in the index)."""
    if filters.priced:
        nearest, keyword = await _both(
            _nearest(nearest_queries, collection, vector, n, filters),
            _keyword(collection, sizes, query, filters, n),
        )
        semantic = [(pid, 1.0 - dist) for pid, _, dist in nearest]
        metadata = {pid: meta for pid, meta, _ in nearest}
    else:
        semantic, keyword = await _both(
            _nearest_ids(nearest_queries, collection, vector, n, filters),
            _keyword(collection, sizes, query, filters, n),
        )
        metadata = {}
    metadata |= {pid: meta for pid, meta, _ in keyword}
    terms = ranking.query_terms(query)
    named = {pid for pid, meta, _ in keyword if ranking.names_query(terms, str(meta.get("name")))}
    fused = ranking.score_fusion(
        semantic, [(pid, score) for pid, _, score in keyword], weight, named=named
    )[:k]
    missing = [pid for pid, _ in fused if pid not in metadata]
    if missing:
        found = await collection.get(ids=missing, include=["metadatas"])
        metadata |= {
            pid: dict(meta or {})
            for pid, meta in zip(found["ids"], found.get("metadatas") or [], strict=True)
        }
    return [Hit.of(pid, metadata[pid], score) for pid, score in fused if pid in metadata]


async def _nearest_ids(
    queries: NearestQueries,
    collection: AsyncCollection,
    vector: list[float],
    n: int,
    filters: Filters,
) -> list[tuple[str, float]]:
    """The n nearest (id, similarity), closest first, with no metadata read (no exact
    price check: only for filters that Chroma's `where` applies in full)."""
    found = await queries.query(collection, vector, n, filters, ("distances",))
    return [(pid, 1.0 - dist) for pid, dist in zip(found.ids, found.distances, strict=True)]


async def _nearest(
    queries: NearestQueries,
    collection: AsyncCollection,
    vector: list[float],
    n: int,
    filters: Filters,
) -> list[tuple[str, dict[str, Any], float]]:
    found = await queries.query(collection, vector, n, filters, ("metadatas", "distances"))
    rows = list(zip(found.ids, found.metadatas or [], found.distances, strict=True))
    return [row for row in rows if filters.accepts(row[1])]


async def _keyword(
    collection: AsyncCollection, sizes: IndexSizes, query: str, filters: Filters, n: int
) -> list[tuple[str, dict[str, Any], float]]:
    """Documents containing a query word, ranked by BM25: (id, metadata, score), best
    first, at most n.

    Local Chroma evaluates `$contains` as a LIKE over every document of the collection
    (no full-text index is used), so this call's cost grows with the catalog: 20-80 ms
    at 10k products, 80-190 ms at 100k, against 3-5 ms for the nearest neighbours
    (docs/benchmarks.md, "Search at 100k: the keyword scan")."""
    terms = ranking.query_terms(query)
    if not terms:
        return []
    contains = [{"$contains": term} for term in terms]
    where_document = contains[0] if len(contains) == 1 else {"$or": contains}
    found, size = await _both(
        collection.get(
            where=filters.where(),
            where_document=where_document,  # type: ignore[arg-type]
            limit=KEYWORD_FETCH_LIMIT,
            include=["documents", "metadatas"],
        ),
        sizes.of(collection),
    )
    documents = dict(zip(found["ids"], found.get("documents") or [], strict=True))
    metadatas = {
        pid: dict(meta or {})
        for pid, meta in zip(found["ids"], found.get("metadatas") or [], strict=True)
    }
    scored = ranking.bm25(terms, {pid: doc or "" for pid, doc in documents.items()}, size)
    return [
        (pid, metadatas[pid], score) for pid, score in scored if filters.accepts(metadatas[pid])
    ][:n]
