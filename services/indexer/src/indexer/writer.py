"""Writing product states into a Chroma collection: guard, embed in one call, upsert.

A product whose embedded text did not change (a stock change of a simple product: the
stock is metadata, not text) gets its metadata updated without an embedding call: the
`indexed` row keeps a digest of the text last embedded, committed with the guard.

The live sync and the rebuild both write through `IndexWriter.write`, inside a
PostgreSQL transaction that the caller commits after the Chroma calls returned. The
guard rows (`indexed`) are only committed once Chroma has the documents, and they stay
row-locked meanwhile, so concurrent writers of the same product are serialised and the
newest sequence always wins. A crash between the Chroma write and the commit leaves the
work queued (live path) or the run resumable (rebuild): Chroma upserts are idempotent.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from indexer import metrics
from indexer.domain import Document, ProductState, document_of
from indexer.pacing import WritePacer
from indexer.storage import collections as collections_store
from indexer.storage.collections import Target
from marcus_search import EmbedderPool, IndexServers
from marcus_search.chroma import AsyncCollection, open_collection


def written(state: ProductState) -> Document:
    """The record written for a product: its document, with the fold's `sequence` at the
    time of writing (the product version the record reflects; a stock change that
    leaves the document as it was does not write, so it does not move it: ADR 0033)."""
    document = document_of(state)
    return Document(document.id, document.text, document.metadata | {"sequence": state.sequence})


@dataclass(frozen=True)
class WriteResult:
    upserted: int = 0
    """Documents embedded and upserted."""
    deleted: int = 0
    skipped: int = 0
    metadata_only: int = 0
    """Documents whose text was unchanged: their metadata updated, no embedding."""


def digest_of(text: str) -> bytes:
    """What `indexed.text_digest` compares: 16 bytes of BLAKE2b of the embedded text."""
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


class IndexWriter:
    def __init__(self, servers: IndexServers, embedders: EmbedderPool) -> None:
        self.servers = servers
        self.embedders = embedders
        self._collections: dict[str, AsyncCollection] = {}

    async def collection(self, name: str) -> AsyncCollection:
        """The collection's handle, on the Chroma server its name says."""
        if name not in self._collections:
            client = await self.servers.for_collection(name)
            self._collections[name] = await open_collection(client, name)
        return self._collections[name]

    def forget(self, name: str) -> None:
        self._collections.pop(name, None)

    async def write(
        self,
        session: AsyncSession,
        target: Target,
        states: Sequence[ProductState],
        pacer: WritePacer | None = None,
    ) -> WriteResult:
        """Bring `target` up to `states` (one per product) where they are newer.

        With a `pacer` (the rebuild), the documents are embedded in one call but
        written to Chroma in the pacer's chunks and gaps (`indexer.pacing`)."""
        relevant = {s.product_id: s for s in states if s.indexable or s.deleted}
        winners = await collections_store.guard(
            session, target.name, [(s.product_id, s.sequence) for s in relevant.values()]
        )  # product -> the digest of the text it was last embedded from
        upserts = [relevant[p] for p in sorted(winners) if relevant[p].indexable]
        deletes = [str(p) for p in sorted(winners) if relevant[p].deleted]
        collection = await self.collection(target.name)
        documents = {state.product_id: written(state) for state in upserts}
        digests = {pid: digest_of(doc.text) for pid, doc in documents.items()}
        same = [doc for pid, doc in documents.items() if winners[pid] == digests[pid]]
        changed = [doc for pid, doc in documents.items() if winners[pid] != digests[pid]]
        if changed:
            embedder = self.embedders.for_collection(target.kind, target.dimension)
            started = time.perf_counter()
            vectors = await embedder.embed([doc.text for doc in changed])
            metrics.EMBED_SECONDS.labels(embedder.name).observe(time.perf_counter() - started)
            metrics.EMBED_BATCH.labels(embedder.name).observe(len(changed))
            pairs = list(zip(changed, vectors, strict=True))

            async def upsert(chunk: Sequence[tuple[Document, list[float]]]) -> None:
                await collection.upsert(
                    ids=[doc.id for doc, _ in chunk],
                    embeddings=[vector for _, vector in chunk],  # type: ignore[arg-type]
                    documents=[doc.searchable_text for doc, _ in chunk],
                    metadatas=[doc.metadata for doc, _ in chunk],
                )

            if pacer is None:
                await upsert(pairs)
            else:
                await pacer.write(pairs, upsert)
            await collections_store.remember_digests(
                session, target.name, {UUID(doc.id): digests[UUID(doc.id)] for doc in changed}
            )
        if same:  # the embedded text is as it was (a stock change): new metadata only
            await collection.update(
                ids=[doc.id for doc in same], metadatas=[doc.metadata for doc in same]
            )
        if deletes:
            await collection.delete(ids=deletes)
        return WriteResult(
            upserted=len(changed),
            deleted=len(deletes),
            skipped=len(relevant) - len(winners),
            metadata_only=len(same),
        )
