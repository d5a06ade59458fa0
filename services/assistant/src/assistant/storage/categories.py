"""The categories the assistant knows, kept from `catalog.category.*` events, and a
short-lived in-process copy for the query parser (read once per `TTL_S` at most)."""

from __future__ import annotations

import time
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.constraints import Category, ParsedQuery, parse
from assistant.storage.tables import categories
from marcus_contracts import Envelope

TTL_S = 5.0
"""A category created in the catalog is understood in queries within this long."""

_cache: WeakKeyDictionary[async_sessionmaker[AsyncSession], tuple[float, list[Category]]] = (
    WeakKeyDictionary()
)


async def upsert(session: AsyncSession, envelope: Envelope, event: Any) -> None:
    """A created or updated category; a redelivered older event changes nothing."""
    stmt = insert(categories).values(
        id=event.category_id, slug=event.slug, name=event.name, version=envelope.sequence
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["id"],
            set_={
                "slug": stmt.excluded.slug,
                "name": stmt.excluded.name,
                "version": stmt.excluded.version,
            },
            where=categories.c.version < stmt.excluded.version,
        )
    )


async def known(sessions: async_sessionmaker[AsyncSession]) -> list[Category]:
    """Every category, from a copy at most `TTL_S` old."""
    cached = _cache.get(sessions)
    now = time.monotonic()
    if cached is not None and now - cached[0] < TTL_S:
        return cached[1]
    async with sessions() as db:
        rows = await db.execute(select(categories.c.slug, categories.c.name))
        found = [Category(row.slug, row.name) for row in rows]
    _cache[sessions] = (now, found)
    return found


async def parse_query(sessions: async_sessionmaker[AsyncSession], query: str) -> ParsedQuery:
    """The query's constraints, its category words matched against the known categories."""
    return parse(query, await known(sessions))
