"""The orders service's read model of the catalog: price, name, currency and kind per
product (a configurable product's price depends on its configuration: only the catalog
prices it).

Kept from `catalog.product.*` (full snapshots, event-carried state) by the consumer,
guarded by the product's sequence so an old snapshot never overwrites a newer one.
Deleted products stay, marked deleted: an order naming one is refused.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from marcus_contracts import Envelope
from orders.storage.tables import products


async def upsert_product(session: AsyncSession, envelope: Envelope, event: Any) -> None:
    values = {
        "sku": event.sku,
        "name": event.name,
        "price": event.price,
        "currency": event.currency,
        "kind": event.kind,
        "base_product_id": event.base_product_id,
        "deleted": False,
        "version": envelope.sequence,
        "updated_at": envelope.time,
    }
    statement = insert(products).values(id=event.product_id, **values)
    await session.execute(statement.on_conflict_do_update(index_elements=["id"], set_=values))


async def mark_deleted(session: AsyncSession, envelope: Envelope, event: Any) -> None:
    await session.execute(
        update(products)
        .where(products.c.id == event.product_id)
        .values(deleted=True, version=envelope.sequence, updated_at=envelope.time)
    )
