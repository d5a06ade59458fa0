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


async def connect(url: str) -> AsyncClientAPI:
    """An async HTTP client of the Chroma server at `url` (e.g. `http://127.0.0.1:8100`)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"CHROMA_URL must be http(s)://host:port, got {url!r}")
    return await chromadb.AsyncHttpClient(
        host=parts.hostname,
        port=parts.port or (443 if parts.scheme == "https" else 80),
        ssl=parts.scheme == "https",
        settings=Settings(anonymized_telemetry=False),
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
