"""Catalog settings: the shared ones (marcus_web.settings) with the catalog's defaults."""

from __future__ import annotations

from marcus_web.settings import ServiceSettings

SERVICE = "catalog"
SCHEMA = "catalog"


class CatalogSettings(ServiceSettings):
    port: int = 8001

    saga_enabled: bool = True
    """Run the catalog's consumer group inside the service process: the stock saga
    (`events.orders`) and the indexer's snapshot requests (`events.indexer`)."""
    saga_batch: int = 1
    """Orders per consumer transaction. 1 on purpose: a reservation holds its products'
    row locks until its transaction commits, so a batch would hold the locks of many
    orders at once, and two replicas taking the same products in different batch orders
    would deadlock; one order per transaction keeps every lock set in id order."""
    saga_max_deliveries: int = 10
    saga_reclaim_min_idle_ms: int = 30_000
    saga_backoff_base_ms: int = 500

    snapshot_page: int = 500
    """Products read and written per round when answering a snapshot request."""
    snapshot_ttl_s: int = 3600
    """How long a snapshot stream is kept after its last write (the indexer reads it
    within seconds; the expiry only cleans up after a reader that went away)."""

    read_cache: bool = True
    """Serve GET /products/{id} and /categories/{id} from a per-process cache of the
    response, invalidated from committed events (`catalog.storage.read_cache`)."""
    read_cache_size: int = 50_000
    """Responses kept per process (least recently used go first)."""
    read_cache_max_lag: float = 3.0
    """Seconds without a completed follower round after which the cache is bypassed:
    the bound on how old a response without a consistency token can be."""
    read_cache_poll_interval: float = 0.5
    """Follower round interval when no NOTIFY arrives (NOTIFY wakes it at every commit)."""
