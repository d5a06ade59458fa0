"""Publishing the active collection (the `collections` table) as the Redis alias."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from indexer.storage import collections as collections_store
from marcus_search import ActiveIndex, AliasStore


async def publish_alias(
    sessions: async_sessionmaker[AsyncSession], alias: AliasStore
) -> ActiveIndex | None:
    """Write the active collection to Redis unless Redis already has a newer one.

    The generation (activation time in microseconds) makes the write monotonic: a
    replica re-asserting what it read just before a switch cannot put the old, soon
    dropped collection back."""
    async with sessions() as session:
        active = await collections_store.active(session)
    if active is None or active.activated_at is None:
        return None
    index = ActiveIndex(
        collection=active.name,
        embedder=active.embedder,
        dimension=active.dimension,
        activated_at=active.activated_at.isoformat(),
        generation=int(active.activated_at.timestamp() * 1_000_000),
    )
    await alias.write(index)
    return index
