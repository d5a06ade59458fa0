"""Read side: queries over the projections for the public API (no aggregates involved)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import Select, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.storage.tables import categories, products


@dataclass(frozen=True)
class ProductFilter:
    category_id: UUID | None = None
    category_slug: str | None = None
    q: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    in_stock: bool | None = None


def product_query() -> Select[Any]:
    """Products with their category's slug and name (what answers and aggregates show)."""
    return select(
        products,
        categories.c.slug.label("category_slug"),
        categories.c.name.label("category_name"),
    ).join(categories, categories.c.id == products.c.category_id)


PRODUCT_BY_ID = product_query().where(products.c.id == bindparam("product_id"))
"""One product by id: built once, so SQLAlchemy neither builds it nor computes its cache
key again on every read (the statement object memoises its key)."""


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def get_product(session: AsyncSession, product_id: UUID) -> Any | None:
    result = await session.execute(PRODUCT_BY_ID, {"product_id": product_id})
    return result.first()


async def list_products(
    session: AsyncSession, filters: ProductFilter, limit: int, after: UUID | None
) -> tuple[list[Any], UUID | None]:
    """One page in id order (ids are time-ordered UUIDv7: newest last), keyset-paginated."""
    query = product_query()
    if filters.category_id is not None:
        query = query.where(products.c.category_id == filters.category_id)
    if filters.category_slug is not None:
        query = query.where(categories.c.slug == filters.category_slug)
    if filters.q:
        pattern = f"%{_escape_like(filters.q)}%"
        query = query.where(
            or_(
                products.c.name.ilike(pattern, escape="\\"),
                products.c.description.ilike(pattern, escape="\\"),
                products.c.sku.ilike(pattern, escape="\\"),
            )
        )
    if filters.min_price is not None:
        query = query.where(products.c.price >= filters.min_price)
    if filters.max_price is not None:
        query = query.where(products.c.price <= filters.max_price)
    if filters.in_stock is True:
        query = query.where(products.c.stock > 0)
    elif filters.in_stock is False:
        query = query.where(products.c.stock <= 0)
    if after is not None:
        query = query.where(products.c.id > after)
    rows = list((await session.execute(query.order_by(products.c.id).limit(limit + 1))).all())
    next_after = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_after


async def get_category(session: AsyncSession, category_id: UUID) -> Any | None:
    return (await session.execute(select(categories).where(categories.c.id == category_id))).first()


async def list_categories(session: AsyncSession) -> list[Any]:
    return list((await session.execute(select(categories).order_by(categories.c.name))).all())
