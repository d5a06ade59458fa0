"""Loads aggregates from the projections and remembers them for the unit of work."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.domain import Category, Product
from catalog.storage.tables import categories, products
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

    async def product(self, product_id: UUID) -> Product | None:
        query = (
            select(
                products,
                categories.c.slug.label("category_slug"),
                categories.c.name.label("category_name"),
            )
            .join(categories, categories.c.id == products.c.category_id)
            .where(products.c.id == product_id)
        )
        row = (await self.session.execute(query)).first()
        if row is None:
            return None
        product = Product(
            id=row.id,
            version=row.version,
            sku=row.sku,
            name=row.name,
            description=row.description,
            price=row.price,
            currency=row.currency,
            category=CategoryRef(
                id=row.category_id, slug=row.category_slug, name=row.category_name
            ),
            attributes=dict(row.attributes),
            stock=row.stock,
        )
        self.seen.append(product)
        return product
