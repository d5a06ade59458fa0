"""Projections rebuilt from the event table equal the live ones."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog.storage.tables import categories, products
from catalog.storage.uow import CatalogUnitOfWork as UnitOfWork
from marcus_eventstore import rebuild_projections


async def snapshot(engine: AsyncEngine) -> tuple[list, list]:
    async with engine.connect() as conn:
        cats = (await conn.execute(select(categories).order_by(categories.c.id))).all()
        prods = (await conn.execute(select(products).order_by(products.c.id))).all()
    return [tuple(r) for r in cats], [tuple(r) for r in prods]


async def test_rebuild_equals_live_state(api, client, admin_headers, engine: AsyncEngine) -> None:
    bikes = await api.category("bikes")
    tea = await api.category("tea")
    ids = [(await api.product(bikes["id"], sku=f"B-{i}"))["id"] for i in range(4)]
    await client.patch(
        f"/api/v1/products/{ids[0]}",
        json={"price": "5.00", "category_id": tea["id"]},
        headers=admin_headers,
    )
    await client.put(f"/api/v1/products/{ids[1]}/stock", json={"stock": 0}, headers=admin_headers)
    await client.delete(f"/api/v1/products/{ids[2]}", headers=admin_headers)
    await client.patch(
        f"/api/v1/categories/{tea['id']}", json={"name": "Fine tea"}, headers=admin_headers
    )

    live = await snapshot(engine)
    assert len(live[1]) == 3
    replayed = await rebuild_projections(engine, UnitOfWork.store, UnitOfWork.projector)
    assert replayed == 2 + 4 + 4
    assert await snapshot(engine) == live
