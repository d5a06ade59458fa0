"""Catalog settings: the shared ones plus the outbox relay's."""

from __future__ import annotations

from marcus_web.settings import ServiceSettings

SERVICE = "catalog"
SCHEMA = "catalog"


class CatalogSettings(ServiceSettings):
    host: str = "127.0.0.1"
    port: int = 8001
    db_pool_size: int = 10

    relay_enabled: bool = True
    relay_poll_interval: float = 1.0
    relay_batch_size: int = 500
    stream_maxlen: int = 0
    """0 never trims: the indexer's rebuild replays `events.catalog` from the start."""
