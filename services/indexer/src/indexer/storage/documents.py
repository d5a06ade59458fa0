"""The product fold in PostgreSQL (`documents`) and the sync queue that follows it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from uuid import UUID

from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from indexer.domain import ProductState
from indexer.storage.tables import documents, sync_queue
from marcus_telemetry import current_traceparent


def _state(row: object) -> ProductState:
    return ProductState(
        product_id=row.product_id,  # type: ignore[attr-defined]
        sequence=row.sequence,  # type: ignore[attr-defined]
        snapshot_sequence=row.snapshot_sequence,  # type: ignore[attr-defined]
        stock_sequence=row.stock_sequence,  # type: ignore[attr-defined]
        deleted=row.deleted,  # type: ignore[attr-defined]
        snapshot=row.snapshot,  # type: ignore[attr-defined]
        stock=row.stock,  # type: ignore[attr-defined]
        option_stock=row.option_stock,  # type: ignore[attr-defined]
    )


async def load_for_update(session: AsyncSession, product_id: UUID) -> ProductState:
    """The product's state, row-locked until the transaction ends (so two replicas
    applying events of one product serialise); an empty state for a new product."""
    await session.execute(
        pg_insert(documents).values(product_id=product_id).on_conflict_do_nothing()
    )
    row = (
        await session.execute(
            select(documents).where(documents.c.product_id == product_id).with_for_update()
        )
    ).one()
    return _state(row)


async def save(session: AsyncSession, state: ProductState) -> None:
    """Store the new state and queue the product for the collections (same transaction)."""
    await session.execute(
        documents.update()
        .where(documents.c.product_id == state.product_id)
        .values(
            sequence=state.sequence,
            snapshot_sequence=state.snapshot_sequence,
            stock_sequence=state.stock_sequence,
            deleted=state.deleted,
            snapshot=state.snapshot,
            stock=state.stock,
            option_stock=state.option_stock,
            updated_at=func.now(),
        )
    )
    await session.execute(
        insert(sync_queue).values(product_id=state.product_id, traceparent=current_traceparent())
    )


async def load_many(session: AsyncSession, product_ids: Iterable[UUID]) -> list[ProductState]:
    ids = list(product_ids)
    if not ids:
        return []
    rows = await session.execute(select(documents).where(documents.c.product_id.in_(ids)))
    return [_state(row) for row in rows]


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
