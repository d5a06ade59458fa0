"""Projections: current-state tables derived from events by one function per service.

The same projector runs when a command appends events (same transaction) and when the
tables are rebuilt from the event table, so a rebuild yields exactly the live state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from marcus_contracts import Envelope
from marcus_eventstore.store import EventStore


class Projector(Protocol):
    tables: Sequence[Table]
    """The tables this projector owns (emptied before a rebuild)."""

    async def apply(self, session: AsyncSession, envelope: Envelope) -> None: ...


async def rebuild_projections(engine: AsyncEngine, store: EventStore, projector: Projector) -> int:
    """Empty the projector's tables and replay every event, in one transaction.

    Readers keep seeing the old state until the commit (TRUNCATE takes an exclusive lock,
    so concurrent writers wait instead of interleaving).
    """
    count = 0
    async with engine.connect() as reader, AsyncSession(engine) as session, session.begin():
        names = ", ".join(f'"{t.schema}"."{t.name}"' for t in projector.tables)
        await session.execute(text(f"TRUNCATE {names} CASCADE"))
        async for envelope in store.read_all(reader):
            await projector.apply(session, envelope)
            count += 1
    return count
