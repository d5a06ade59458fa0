"""The product fold in PostgreSQL (`documents`) and the sync queue that follows it.

The consumer folds a whole batch of events with a fixed number of statements: lock every
product of the batch (`lock_many`: one SELECT .. FOR UPDATE in product id order, so
replicas with overlapping batches lock in the same order; an INSERT and a second lock
only for products seen for the first time), apply
the events in memory, write the changed states back (`save_many`: one UPDATE from arrays)
and queue them for the syncer with a NOTIFY that wakes it (`queue_many`: one statement).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from uuid import UUID

from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from indexer.domain import ProductState
from indexer.storage.tables import documents, row_as, sync_queue

SYNC_CHANNEL = "indexer_sync"
"""LISTEN/NOTIFY channel: a commit that queued products wakes the syncers."""

_SAVE_MANY = text(
    "UPDATE indexer.documents AS d SET sequence = u.sequence,"
    " snapshot_sequence = u.snapshot_sequence, stock_sequence = u.stock_sequence,"
    " deleted = u.deleted, snapshot = u.snapshot, stock = u.stock,"
    " option_stock = u.option_stock, updated_at = now()"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:sequences AS int[]),"
    " CAST(:snapshot_sequences AS int[]), CAST(:stock_sequences AS int[]),"
    " CAST(:deleted AS boolean[]), CAST(:snapshots AS jsonb[]), CAST(:stocks AS int[]),"
    " CAST(:option_stocks AS jsonb[]))"
    " AS u(product_id, sequence, snapshot_sequence, stock_sequence, deleted, snapshot, stock,"
    " option_stock)"
    " WHERE d.product_id = u.product_id"
)
_QUEUE_MANY = text(
    "WITH queued AS (INSERT INTO indexer.sync_queue (product_id, traceparent)"
    " SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:traceparents AS text[]))"
    " RETURNING id)"
    f" SELECT pg_notify('{SYNC_CHANNEL}', count(*)::text) FROM queued"
)


async def lock_many(session: AsyncSession, product_ids: Iterable[UUID]) -> dict[UUID, ProductState]:
    """The products' states, row-locked until the transaction ends (so two replicas
    applying events of one product serialise), locked in product id order. One statement
    when every product has its row (all but a product's first events); new products get
    an empty row, then are locked the same way."""
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    states = await _lock(session, ids)
    missing = [pid for pid in ids if pid not in states]
    if missing:
        await session.execute(
            pg_insert(documents)
            .values([{"product_id": pid} for pid in missing])
            .on_conflict_do_nothing()
        )
        states |= await _lock(session, missing)
    return states


async def _lock(session: AsyncSession, ids: list[UUID]) -> dict[UUID, ProductState]:
    rows = await session.execute(
        select(documents)
        .where(documents.c.product_id.in_(ids))
        .order_by(documents.c.product_id)
        .with_for_update()
    )
    return {row.product_id: row_as(ProductState, row) for row in rows}


async def save_many(session: AsyncSession, states: Sequence[ProductState]) -> None:
    """Write changed states back in one UPDATE (the rows are locked by `lock_many`)."""
    if not states:
        return
    await session.execute(
        _SAVE_MANY,
        {
            "ids": [s.product_id for s in states],
            "sequences": [s.sequence for s in states],
            "snapshot_sequences": [s.snapshot_sequence for s in states],
            "stock_sequences": [s.stock_sequence for s in states],
            "deleted": [s.deleted for s in states],
            "snapshots": [_json(s.snapshot) for s in states],
            "stocks": [s.stock for s in states],
            "option_stocks": [_json(s.option_stock) for s in states],
        },
    )


async def queue_many(session: AsyncSession, queued: Sequence[tuple[UUID, str | None]]) -> None:
    """Queue (product id, traceparent) pairs for the syncers and NOTIFY them (delivered
    at commit), in one statement."""
    if queued:
        await session.execute(
            _QUEUE_MANY,
            {"ids": [pid for pid, _ in queued], "traceparents": [tp for _, tp in queued]},
        )


def _json(value: object) -> str | None:
    """A jsonb array element: JSON text (SQL NULL for None, as the single-row save)."""
    return None if value is None else json.dumps(value)


async def load_many(session: AsyncSession, product_ids: Iterable[UUID]) -> list[ProductState]:
    ids = list(product_ids)
    if not ids:
        return []
    rows = await session.execute(select(documents).where(documents.c.product_id.in_(ids)))
    return [row_as(ProductState, row) for row in rows]


async def claim(session: AsyncSession, limit: int) -> list[tuple[int, UUID]]:
    """Lock up to `limit` queue entries no other replica holds (FOR UPDATE SKIP LOCKED):
    the rows stay locked, hence owned by this transaction, until it commits or dies."""
    return [(entry, product_id) for entry, product_id, _ in await claim_traced(session, limit)]


async def claim_traced(session: AsyncSession, limit: int) -> list[tuple[int, UUID, str | None]]:
    """`claim`, with the traceparent of the event that queued each entry."""
    rows = await session.execute(
        select(sync_queue.c.id, sync_queue.c.product_id, sync_queue.c.traceparent)
        .order_by(sync_queue.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [(row.id, row.product_id, row.traceparent) for row in rows]


async def release(session: AsyncSession, entry_ids: Sequence[int]) -> None:
    if entry_ids:
        await session.execute(delete(sync_queue).where(sync_queue.c.id.in_(list(entry_ids))))


async def queued(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(sync_queue))).scalar_one())


async def counts(session: AsyncSession) -> tuple[int, int]:
    """(indexable products, deleted products) as the live fold knows them."""
    indexable = await session.execute(
        select(func.count())
        .select_from(documents)
        .where(documents.c.snapshot.is_not(None), documents.c.deleted.is_(False))
    )
    gone = await session.execute(
        select(func.count()).select_from(documents).where(documents.c.deleted.is_(True))
    )
    return int(indexable.scalar_one()), int(gone.scalar_one())
