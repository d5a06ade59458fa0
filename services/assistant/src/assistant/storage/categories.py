"""The categories the assistant knows, kept from `catalog.category.*` events, and a
short-lived in-process copy for the query parser (read once per `TTL_S` at most), with
the queries parsed against that copy (a search engine sees the same queries again and
again; parsing one is ~80 µs of regular expressions)."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
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
PARSED_KEPT = 1024
"""Parsed queries kept per copy of the categories (least recently used dropped)."""


@dataclass
class _Known:
    """One copy of the categories, and the queries parsed against it."""

    read_at: float
    categories: list[Category]
    parsed: OrderedDict[str, ParsedQuery] = field(default_factory=OrderedDict)


_cache: WeakKeyDictionary[async_sessionmaker[AsyncSession], _Known] = WeakKeyDictionary()


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


async def _known(sessions: async_sessionmaker[AsyncSession]) -> _Known:
    """Every category, from a copy at most `TTL_S` old."""
    cached = _cache.get(sessions)
    now = time.monotonic()
    if cached is not None and now - cached.read_at < TTL_S:
        return cached
    async with sessions() as db:
        rows = await db.execute(select(categories.c.slug, categories.c.name))
        found = _Known(now, [Category(row.slug, row.name) for row in rows])
    _cache[sessions] = found
    return found


async def parse_query(sessions: async_sessionmaker[AsyncSession], query: str) -> ParsedQuery:
    """The query's constraints, its category words matched against the known categories
    (a query parsed against the same copy before is not parsed again: `ParsedQuery` is
    immutable, and the copy is replaced, with its parsed queries, when it expires)."""
    known_now = await _known(sessions)
    parsed = known_now.parsed.get(query)
    if parsed is not None:
        known_now.parsed.move_to_end(query)
        return parsed
    parsed = known_now.parsed[query] = parse(query, known_now.categories)
    while len(known_now.parsed) > PARSED_KEPT:
        known_now.parsed.popitem(last=False)
    return parsed
