"""Semantic and hybrid product search, and similar products, over the active collection.

Which collection is active comes from the Redis alias the indexer maintains (never from
the indexer's schema); its name says which embedder built it, so queries are embedded by
the same one. A rebuild drops the previous collection right after switching the alias:
a query that opened the old collection just before gets NotFound, re-reads the alias and
runs again on the new one, so search keeps answering through a rebuild.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from assistant import ranking
from marcus_search import ActiveIndex, AliasStore, EmbedderPool, EmbedderUnavailable
from marcus_search.chroma import AsyncClientAPI, AsyncCollection, NotFoundError, open_collection

T = TypeVar("T")
KEYWORD_FETCH_LIMIT = 500
ATTEMPTS = 3


class IndexUnavailable(Exception):
    """No active collection yet, or its embedder cannot run here: answer 503."""


class UnknownProduct(Exception):
    """The product is not in the index (never existed, deleted, or not indexed yet)."""


@dataclass(frozen=True)
class Filters:
    category: str | None = None
    max_price: Decimal | None = None
    in_stock: bool | None = None

    def where(self) -> dict[str, Any] | None:
        conditions: list[dict[str, Any]] = []
        if self.category is not None:
            conditions.append({"category": self.category})
        if self.max_price is not None:
            conditions.append({"price": {"$lte": float(self.max_price)}})
        if self.in_stock is not None:
            conditions.append({"in_stock": self.in_stock})
        if not conditions:
            return None
        return conditions[0] if len(conditions) == 1 else {"$and": conditions}

    def accepts(self, metadata: dict[str, Any]) -> bool:
        """Exact check in Decimal (the `$lte` filter compares floats)."""
        if self.max_price is None:
            return True
        return Decimal(str(metadata.get("price_exact", metadata.get("price", 0)))) <= self.max_price


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
            price=Decimal(str(metadata.get("price_exact", metadata.get("price", "0")))),
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


class SearchService:
    def __init__(
        self,
        client_factory: Callable[[], Awaitable[AsyncClientAPI]],
        alias: AliasStore,
        embedders: EmbedderPool,
        *,
        hybrid_candidates: int = 50,
    ) -> None:
        self._client_factory = client_factory
        self._client: AsyncClientAPI | None = None
        self.alias = alias
        self.embedders = embedders
        self.hybrid_candidates = hybrid_candidates

    async def client(self) -> AsyncClientAPI:
        if self._client is None:
            self._client = await self._client_factory()
        return self._client

    async def _on_active(
        self, work: Callable[[ActiveIndex, AsyncCollection], Awaitable[T]]
    ) -> tuple[ActiveIndex, T]:
        for attempt in range(ATTEMPTS):
            active = await self.alias.read()
            if active is None:
                raise IndexUnavailable("the search index is not built yet")
            try:
                collection = await open_collection(await self.client(), active.collection)
                return active, await work(active, collection)
            except NotFoundError:
                if attempt == ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _embedder(self, active: ActiveIndex):  # type: ignore[no-untyped-def]
        name = active.name
        try:
            return self.embedders.for_collection(name.kind, name.dimension)
        except EmbedderUnavailable as exc:
            raise IndexUnavailable(str(exc)) from exc

    async def search(self, query: str, k: int, filters: Filters, *, hybrid: bool) -> Results:
        async def work(active: ActiveIndex, collection: AsyncCollection) -> list[Hit]:
            embedder = self._embedder(active)
            [vector] = await embedder.embed([query])
            n = max(k, self.hybrid_candidates) if hybrid else k
            semantic = await _nearest(collection, vector, n, filters)
            if not hybrid:
                return [Hit.of(pid, meta, 1.0 - dist) for pid, meta, dist in semantic][:k]
            keyword = await _keyword(collection, query, filters, n)
            metadata = {pid: meta for pid, meta, _ in semantic} | dict(keyword)
            fused = ranking.reciprocal_rank_fusion(
                [[pid for pid, _, _ in semantic], [pid for pid, _ in keyword]]
            )
            return [Hit.of(pid, metadata[pid], score) for pid, score in fused[:k]]

        active, hits = await self._on_active(work)
        return Results(active.collection, active.embedder, hits)

    async def similar(self, product_id: str, k: int, filters: Filters) -> Results:
        async def work(active: ActiveIndex, collection: AsyncCollection) -> list[Hit]:
            found = await collection.get(ids=[product_id], include=["embeddings"])
            embeddings = found.get("embeddings")
            if not found["ids"] or embeddings is None or len(embeddings) == 0:
                raise UnknownProduct(product_id)
            vector = [float(x) for x in embeddings[0]]
            nearest = await _nearest(collection, vector, k + 1, filters)
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


async def _nearest(
    collection: AsyncCollection, vector: list[float], n: int, filters: Filters
) -> list[tuple[str, dict[str, Any], float]]:
    result = await collection.query(
        query_embeddings=[vector],  # type: ignore[arg-type]
        n_results=n,
        where=filters.where(),
        include=["metadatas", "distances"],
    )
    ids = result["ids"][0] if result["ids"] else []
    metadatas = (result.get("metadatas") or [[]])[0]
    distances = (result.get("distances") or [[]])[0]
    rows = [
        (pid, dict(meta or {}), float(dist))
        for pid, meta, dist in zip(ids, metadatas, distances, strict=True)
    ]
    return [row for row in rows if filters.accepts(row[1])]


async def _keyword(
    collection: AsyncCollection, query: str, filters: Filters, n: int
) -> list[tuple[str, dict[str, Any]]]:
    """Documents containing a query word, ranked by BM25 (best first, at most n)."""
    terms = ranking.query_terms(query)
    if not terms:
        return []
    contains = [{"$contains": term} for term in terms]
    where_document = contains[0] if len(contains) == 1 else {"$or": contains}
    found = await collection.get(
        where=filters.where(),
        where_document=where_document,  # type: ignore[arg-type]
        limit=KEYWORD_FETCH_LIMIT,
        include=["documents", "metadatas"],
    )
    documents = dict(zip(found["ids"], found.get("documents") or [], strict=True))
    metadatas = {
        pid: dict(meta or {})
        for pid, meta in zip(found["ids"], found.get("metadatas") or [], strict=True)
    }
    size = await collection.count()
    scored = ranking.bm25(terms, {pid: doc or "" for pid, doc in documents.items()}, size)
    return [(pid, metadatas[pid]) for pid, _ in scored if filters.accepts(metadatas[pid])][:n]
