"""Command handlers: the catalog's use cases, each in one unit of work.

HTTP routes call these, the stock saga's consumer calls `catalog.saga`; neither touches
SQL itself. Commands that change a product lock its row first (see Repository.product).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

from catalog.domain import Category, Product
from catalog.storage.uow import CatalogUnitOfWork as UnitOfWork
from marcus_eventstore import DomainError, NotFound


@dataclass(frozen=True)
class CreateCategory:
    slug: str
    name: str
    description: str = ""


@dataclass(frozen=True)
class UpdateCategory:
    category_id: UUID
    changes: dict[str, Any]
    expected_version: int | None = None


@dataclass(frozen=True)
class CreateProduct:
    sku: str
    name: str
    price: Decimal
    currency: str
    category_id: UUID
    description: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    stock: int = 0


@dataclass(frozen=True)
class UpdateProduct:
    product_id: UUID
    changes: dict[str, Any]
    category_id: UUID | None = None
    expected_version: int | None = None


@dataclass(frozen=True)
class DeleteProduct:
    product_id: UUID
    expected_version: int | None = None


@dataclass(frozen=True)
class SetStock:
    product_id: UUID
    stock: int
    reason: str = ""
    expected_version: int | None = None


async def _category(uow: UnitOfWork, category_id: UUID) -> Category:
    category = await uow.repo.category(category_id)
    if category is None:
        raise DomainError(f"category {category_id} does not exist")
    return category


async def _product(uow: UnitOfWork, product_id: UUID) -> Product:
    product = await uow.repo.product(product_id, lock=True)
    if product is None:
        raise NotFound(f"product {product_id} does not exist")
    return product


async def create_category(cmd: CreateCategory, uow: UnitOfWork) -> UUID:
    async with uow:
        category = Category.create(cmd.slug, cmd.name, cmd.description)
        uow.repo.add(category)
        await uow.commit()
        return category.id


async def update_category(cmd: UpdateCategory, uow: UnitOfWork) -> None:
    async with uow:
        category = await uow.repo.category(cmd.category_id)
        if category is None:
            raise NotFound(f"category {cmd.category_id} does not exist")
        category.expect_version(cmd.expected_version)
        category.update(**cmd.changes)
        await uow.commit()


async def create_product(cmd: CreateProduct, uow: UnitOfWork) -> UUID:
    async with uow:
        category = await _category(uow, cmd.category_id)
        product = Product.create(
            sku=cmd.sku,
            name=cmd.name,
            description=cmd.description,
            price=cmd.price,
            currency=cmd.currency,
            category=category,
            attributes=cmd.attributes,
            stock=cmd.stock,
        )
        uow.repo.add(product)
        await uow.commit()
        return product.id


async def update_product(cmd: UpdateProduct, uow: UnitOfWork) -> None:
    async with uow:
        product = await _product(uow, cmd.product_id)
        product.expect_version(cmd.expected_version)
        category = await _category(uow, cmd.category_id) if cmd.category_id else None
        product.update(category=category, **cmd.changes)
        await uow.commit()


async def delete_product(cmd: DeleteProduct, uow: UnitOfWork) -> None:
    async with uow:
        product = await _product(uow, cmd.product_id)
        product.expect_version(cmd.expected_version)
        product.delete()
        await uow.commit()


async def set_stock(cmd: SetStock, uow: UnitOfWork) -> None:
    async with uow:
        product = await _product(uow, cmd.product_id)
        product.expect_version(cmd.expected_version)
        product.set_stock(cmd.stock, cmd.reason)
        await uow.commit()
