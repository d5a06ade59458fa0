"""Writing product states into a Chroma collection: guard, embed in one call, upsert.

The live sync and the rebuild both write through `IndexWriter.write`, inside a
PostgreSQL transaction that the caller commits after the Chroma calls returned. The
guard rows (`indexed`) are only committed once Chroma has the documents, and they stay
row-locked meanwhile, so concurrent writers of the same product are serialised and the
newest sequence always wins. A crash between the Chroma write and the commit leaves the
work queued (live path) or the run resumable (rebuild): Chroma upserts are idempotent.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from indexer import metrics
from indexer.domain import ProductState, document_of
from indexer.storage import collections as collections_store
from indexer.storage.collections import Target
from marcus_search import EmbedderPool
from marcus_search.chroma import AsyncClientAPI, AsyncCollection, open_collection


@dataclass(frozen=True)
class WriteResult:
    upserted: int = 0
    deleted: int = 0
    skipped: int = 0


class IndexWriter:
    def __init__(self, client: AsyncClientAPI, embedders: EmbedderPool) -> None:
        self.client = client
        self.embedders = embedders
        self._collections: dict[str, AsyncCollection] = {}

    async def collection(self, name: str) -> AsyncCollection:
        if name not in self._collections:
            self._collections[name] = await open_collection(self.client, name)
        return self._collections[name]

    def forget(self, name: str) -> None:
        self._collections.pop(name, None)

    async def write(
        self, session: AsyncSession, target: Target, states: Sequence[ProductState]
    ) -> WriteResult:
        """Bring `target` up to `states` (one per product) where they are newer."""
        relevant = {s.product_id: s for s in states if s.indexable or s.deleted}
        winners = await collections_store.guard(
            session, target.name, [(s.product_id, s.sequence) for s in relevant.values()]
        )
        upserts = [relevant[p] for p in sorted(winners) if relevant[p].indexable]
        deletes = [str(p) for p in sorted(winners) if relevant[p].deleted]
        collection = await self.collection(target.name)
        if upserts:
            documents = [document_of(state) for state in upserts]
            embedder = self.embedders.for_collection(target.kind, target.dimension)
            started = time.perf_counter()
            vectors = await embedder.embed([doc.text for doc in documents])
            metrics.EMBED_SECONDS.labels(embedder.name).observe(time.perf_counter() - started)
            metrics.EMBED_BATCH.labels(embedder.name).observe(len(documents))
            await collection.upsert(
                ids=[doc.id for doc in documents],
                embeddings=vectors,  # type: ignore[arg-type]
                documents=[doc.searchable_text for doc in documents],
                metadatas=[doc.metadata for doc in documents],
            )
        if deletes:
            await collection.delete(ids=deletes)
        return WriteResult(
            upserted=len(upserts), deleted=len(deletes), skipped=len(relevant) - len(winners)
        )
