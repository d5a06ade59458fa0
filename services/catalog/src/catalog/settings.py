"""Catalog settings: the shared ones (marcus_web.settings) with the catalog's defaults."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from marcus_web.settings import ServiceSettings

SERVICE = "catalog"
SCHEMA = "catalog"


class CatalogSettings(ServiceSettings):
    port: int = 8001

    # The consumer group's settings are the shared CONSUMER_* ones; the catalog's first
    # name for them, SAGA_*, is still read (the variable names operators already set).
    consumer_enabled: bool = Field(
        default=True, validation_alias=AliasChoices("consumer_enabled", "saga_enabled")
    )
    """Run the catalog's consumer group inside the service process: the stock saga
    (`events.orders`) and the indexer's snapshot requests (`events.indexer`)."""
    consumer_batch: int = Field(
        default=1, ge=1, validation_alias=AliasChoices("consumer_batch", "saga_batch")
    )
    """Orders per consumer transaction. 1 on purpose: a reservation holds its products'
    row locks until its transaction commits, so a batch would hold the locks of many
    orders at once, and two replicas taking the same products in different batch orders
    would deadlock; one order per transaction keeps every lock set in id order."""
    consumer_max_deliveries: int = Field(
        default=10,
        ge=1,
        validation_alias=AliasChoices("consumer_max_deliveries", "saga_max_deliveries"),
    )
    consumer_reclaim_min_idle_ms: int = Field(
        default=30_000,
        ge=1,
        validation_alias=AliasChoices("consumer_reclaim_min_idle_ms", "saga_reclaim_min_idle_ms"),
    )
    consumer_backoff_base_ms: int = Field(
        default=500,
        ge=1,
        validation_alias=AliasChoices("consumer_backoff_base_ms", "saga_backoff_base_ms"),
    )

    snapshot_page: int = 500
    """Products read and written per round when answering a snapshot request."""
    snapshot_ttl_s: int = 3600
    """How long a snapshot stream is kept after its last write (the indexer reads it
    within seconds; the expiry only cleans up after a reader that went away)."""

    read_cache: bool = True
    """Serve GET /products/{id}, /categories/{id} and pages of GET /products from a
    per-process cache of the response, invalidated from committed events
    (`catalog.storage.read_cache`)."""
    read_cache_size: int = 50_000
    """Responses kept per process (least recently used go first)."""
    read_cache_pages: int = 256
    """Pages of GET /products kept per process, apart from the responses above (one per
    distinct query; a page of 100 products is about 100 kB)."""
    read_cache_max_lag: float = 3.0
    """Seconds without a completed follower round after which the cache is bypassed:
    the bound on how old a response without a consistency token can be."""
    read_cache_poll_interval: float = 0.5
    """Follower round interval when no NOTIFY arrives (NOTIFY wakes it at every commit)."""
