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


async def test_reservations_projected_together_equal_one_by_one(api, engine: AsyncEngine) -> None:
    """`apply_all` writes consecutive reservations of distinct products in one statement;
    a product reserved again (another order's line) starts a new statement, and other
    events go one by one. The tables end as `apply` of each event in order leaves them."""
    from uuid import UUID, uuid4

    from sqlalchemy.ext.asyncio import AsyncSession

    from catalog.storage.projector import CatalogProjector
    from catalog.storage.tables import reservations
    from marcus_contracts import registry
    from marcus_contracts.events.catalog import StockReleased, StockReserved

    bikes = await api.category("bikes")
    a, b = [UUID((await api.product(bikes["id"], sku=f"R-{i}"))["id"]) for i in range(2)]
    first, second = uuid4(), uuid4()
    moves = [
        (StockReserved, first, a, 1, 9, 2),
        (StockReserved, first, b, 2, 8, 2),
        (StockReserved, second, a, 3, 6, 3),  # a again: a second statement
        (StockReleased, first, b, 2, 10, 3),
        (StockReserved, second, b, 1, 9, 4),
    ]
    envelopes = [
        registry.envelope(
            kind(order_id=order, product_id=product, quantity=quantity, stock=stock),
            subject=str(product),
            sequence=sequence,
        )
        for kind, order, product, quantity, stock, sequence in moves
    ]

    async def tables_after(apply_all: bool) -> tuple[list, list]:
        projector = CatalogProjector()
        async with AsyncSession(engine) as session, session.begin():
            if apply_all:
                await projector.apply_all(session, envelopes)
            else:
                for envelope in envelopes:
                    await projector.apply(session, envelope)
            stock = (
                await session.execute(
                    select(products.c.id, products.c.stock, products.c.version)
                    .where(products.c.id.in_([a, b]))
                    .order_by(products.c.id)
                )
            ).all()
            held = (
                await session.execute(
                    select(reservations).order_by(
                        reservations.c.order_id, reservations.c.product_id
                    )
                )
            ).all()
            await session.rollback()
        return [tuple(r) for r in stock], [tuple(r) for r in held]

    together, one_by_one = await tables_after(True), await tables_after(False)
    assert together == one_by_one
    stock, held = together
    assert {pid: (units, version) for pid, units, version in stock} == {a: (6, 3), b: (9, 4)}
    assert {(r[0], r[1], r[2], r[3]) for r in held} == {
        (first, a, 1, "reserved"),
        (first, b, 2, "released"),
        (second, a, 3, "reserved"),
        (second, b, 1, "reserved"),
    }
