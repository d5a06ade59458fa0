"""Prometheus metrics of the indexer (on the default registry, exposed at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SYNCED = Counter(
    "indexer_documents_synced_total",
    "Documents written to a collection by the live sync (operation: upsert = embedded, "
    "metadata = text unchanged so only the metadata, delete)",
    ["collection_role", "operation"],
)
SYNC_BATCH_SECONDS = Histogram(
    "indexer_sync_batch_seconds", "Duration of one sync batch (embed + Chroma + commit)"
)
SYNC_FAILURES = Counter("indexer_sync_failures_total", "Sync batches that failed and were retried")
EMBED_SECONDS = Histogram("indexer_embed_seconds", "Duration of one embedding call", ["embedder"])
EMBED_BATCH = Histogram(
    "indexer_embed_batch_size",
    "Texts per embedding call",
    ["embedder"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
DOCUMENTS = Gauge(
    "indexer_documents", "Documents in the active collection (after the last sync or status)"
)
QUEUED = Gauge(
    "indexer_sync_queue_length", "Products waiting to be written to Chroma (at the last status)"
)
REBUILDS = Counter("indexer_rebuilds_total", "Rebuild runs by outcome", ["outcome"])
REBUILD_SECONDS = Histogram(
    "indexer_rebuild_seconds",
    "Duration of a rebuild",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
)
