"""Indexer settings: the shared ones plus Chroma, the embedder and the sync/rebuild knobs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from marcus_search import EmbedderConfig
from marcus_web.settings import ServiceSettings

SERVICE = "indexer"
SCHEMA = "indexer"


class IndexerSettings(ServiceSettings):
    port: int = 8004

    chroma_url: str = "http://127.0.0.1:8100"
    chroma_alt_url: str | None = None
    """An alternate Chroma server (ADR 0035): rebuilds build on whichever of the two does
    not hold the active collection, so searches never wait on a rebuild's writes or on the
    old collection's drop. Unset: everything on `chroma_url`, rebuilds included."""
    index_namespace: str = ""
    """Prefix of the Chroma collection names (several stacks or test runs on one Chroma)."""

    embedder: str = "auto"
    """auto (OpenAI key > local MiniLM installed > hash), hash, minilm or openai."""
    hash_dimension: int = 256
    embedder_threads: int = 1
    """Torch threads of the local MiniLM embedder (0: one per core, torch's default)."""
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    openai_embedding_model: str = "text-embedding-3-small"

    sync_batch: int = 64
    """Products embedded together in one embedding call and one Chroma upsert."""
    sync_poll_interval: float = 1.0
    """Fallback: seconds between checks of the sync queue when no NOTIFY woke the syncer
    (the consumer's commits that queue products send one on `indexer_sync`)."""
    sync_listen: bool = True
    """LISTEN for those NOTIFYs (off: poll every `sync_poll_interval` only)."""

    fault_hold_fold_seconds: float = 0.0
    """Fault tests only: hold each consumed batch's transaction open this long (after the
    product rows are locked, before the commit), so a test can kill a replica while it
    holds work in flight. Never set it in production."""

    rebuild_enabled: bool = True
    """Run queued rebuilds in this process (one at a time across replicas)."""
    rebuild_source: Literal["snapshot", "replay"] = "snapshot"
    """Where a rebuild starts: `snapshot` asks the catalog for every product's current
    state (cost grows with the catalog, and `events.catalog` may be trimmed); `replay`
    folds `events.catalog` from its first entry (only complete when the stream was never
    trimmed, e.g. right after `make republish`)."""
    snapshot_timeout_s: float = 300.0
    """How long a rebuild waits for the catalog's snapshot before the attempt fails (it
    is tried again, up to the run's attempts)."""
    rebuild_page: int = 1000
    """Stream entries per XRANGE/XREAD page while reading a snapshot or replaying."""
    rebuild_batch: int = 256
    """Documents per embedding call (and per Chroma upsert when pacing is off) while
    rebuilding."""
    rebuild_in_flight: int = Field(default=2, ge=1)
    """Batches a rebuild has under way at once: with 2, the next batch is guarded and
    embedded here while Chroma (its own process) applies the previous one's upsert, so
    neither waits for the other (1: one batch after the other)."""
    rebuild_write_chunk: int = 0
    """Documents per Chroma write while rebuilding, for a rebuild paced for search: a
    batch goes to Chroma in chunks this size, so a search waits behind one short write at
    most (Chroma applies writes and readies reads one at a time; ADR 0031). 0 (default):
    one upsert per batch and no gaps, the fastest rebuild (pacing at 64 ran it at about
    half the speed and did not bring search p99 within 2x idle)."""
    rebuild_write_gap: float = 0.5
    """After each of those writes, pause this many times its duration (Chroma and the
    cores are left to search meanwhile); ignored when `rebuild_write_chunk` is 0."""
    rebuild_poll_interval: float = 1.0
    alias_refresh_interval: float = 5.0
    """How often every replica re-asserts the Redis alias from its table."""

    def embedder_config(self) -> EmbedderConfig:
        return EmbedderConfig(
            kind=self.embedder,
            hash_dimension=self.hash_dimension,
            openai_api_key=self.openai_api_key,
            openai_base_url=self.openai_base_url,
            openai_model=self.openai_embedding_model,
            local_threads=self.embedder_threads,
        )
