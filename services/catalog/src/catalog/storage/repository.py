"""Loads aggregates from the projections and remembers them for the unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.domain import Category, Product
from catalog.storage.tables import categories, products, reservations
from marcus_contracts.events.catalog import CategoryRef
from marcus_eventstore import Aggregate


def category_from_row(row: Any) -> Category:
    return Category(
        id=row.id, version=row.version, slug=row.slug, name=row.name, description=row.description
    )


class Repository:
    """Tracks every aggregate it hands out, so the unit of work can collect their events."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.seen: list[Aggregate] = []

    def add(self, aggregate: Aggregate) -> None:
        self.seen.append(aggregate)

    async def category(self, category_id: UUID) -> Category | None:
        row = (
            await self.session.execute(select(categories).where(categories.c.id == category_id))
        ).first()
        if row is None:
            return None
        category = category_from_row(row)
        self.seen.append(category)
        return category

    async def product(self, product_id: UUID, *, lock: bool = False) -> Product | None:
        """`lock`: hold the product's row until the transaction ends (every command that
        changes a product does), so writers of one product queue up instead of failing on
        the event store's (subject, sequence) check or deadlocking with the stock saga."""
        found = await self.products_for_update([product_id]) if lock else None
        if found is not None:
            return found.get(product_id)
        row = (
            await self.session.execute(_product_query().where(products.c.id == product_id))
        ).first()
        return None if row is None else self._track(_product_from_row(row))

    async def products_for_update(self, product_ids: Sequence[UUID]) -> dict[UUID, Product]:
        """Lock and load these products in id order (concurrent reservations of the same
        products always lock in the same order, so they never deadlock). Missing ids are
        absent from the result."""
        query = (
            _product_query()
            .where(products.c.id.in_(sorted(set(product_ids))))
            .order_by(products.c.id)
            .with_for_update(of=products)
        )
        rows = (await self.session.execute(query)).all()
        return {row.id: self._track(_product_from_row(row)) for row in rows}

    async def reserved_lines(self, order_id: UUID) -> list[tuple[UUID, int]]:
        """(product, quantity) still reserved for an order."""
        query = (
            select(reservations.c.product_id, reservations.c.quantity)
            .where(reservations.c.order_id == order_id, reservations.c.status == "reserved")
            .order_by(reservations.c.product_id)
        )
        return [(row.product_id, int(row.quantity)) for row in (await self.session.execute(query))]

    def _track(self, aggregate: Product) -> Product:
        self.seen.append(aggregate)
        return aggregate


def _product_query() -> Select[Any]:
    return select(
        products,
        categories.c.slug.label("category_slug"),
        categories.c.name.label("category_name"),
    ).join(categories, categories.c.id == products.c.category_id)


def _product_from_row(row: Any) -> Product:
    return Product(
        id=row.id,
        version=row.version,
        sku=row.sku,
        name=row.name,
        description=row.description,
        price=row.price,
        currency=row.currency,
        category=CategoryRef(id=row.category_id, slug=row.category_slug, name=row.category_name),
        attributes=dict(row.attributes),
        stock=row.stock,
    )
