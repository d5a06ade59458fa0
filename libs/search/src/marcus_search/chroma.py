"""The Chroma client every process uses: an HTTP client of the `chroma run` server.

Never a PersistentClient on a shared path (several processes would corrupt it), and
never Chroma's default embedding function (it would download a model): collections are
opened with `embedding_function=None` and every write and query passes vectors.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import chromadb
from chromadb.api import AsyncClientAPI
from chromadb.api.models.AsyncCollection import AsyncCollection
from chromadb.config import Settings
from chromadb.errors import NotFoundError

__all__ = [
    "AsyncClientAPI",
    "AsyncCollection",
    "NotFoundError",
    "connect",
    "create_collection",
    "open_collection",
]

COSINE = {"hnsw": {"space": "cosine"}}


async def connect(url: str, *, max_connections: int | None = None) -> AsyncClientAPI:
    """An async HTTP client of the Chroma server at `url` (e.g. `http://127.0.0.1:8100`).

    `max_connections` bounds its connection pool (None: unbounded, chromadb's default).
    A process that sends many concurrent calls should bound it: httpcore checks every
    pooled connection (a `poll` each) when a call starts and when it ends, so a pool that
    a burst grew makes every later call slower, while Chroma gains nothing from more
    calls in flight than it has cores; calls beyond the bound wait for a connection."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"CHROMA_URL must be http(s)://host:port, got {url!r}")
    if max_connections is not None and max_connections < 1:
        raise ValueError(f"max_connections must be at least 1, got {max_connections}")
    return await chromadb.AsyncHttpClient(
        host=parts.hostname,
        port=parts.port or (443 if parts.scheme == "https" else 80),
        ssl=parts.scheme == "https",
        settings=Settings(
            anonymized_telemetry=False,
            chroma_http_max_connections=max_connections,
            chroma_http_max_keepalive_connections=max_connections,
        ),
    )


async def create_collection(
    client: AsyncClientAPI, name: str, metadata: dict[str, Any] | None = None
) -> AsyncCollection:
    """Create (or reopen, idempotently) a cosine-space collection without embedding function."""
    return await client.get_or_create_collection(
        name,
        embedding_function=None,
        configuration=COSINE,  # type: ignore[arg-type]
        metadata=metadata or None,
    )


async def open_collection(client: AsyncClientAPI, name: str) -> AsyncCollection:
    """Open an existing collection; raises `NotFoundError` when it was dropped."""
    return await client.get_collection(name, embedding_function=None)
