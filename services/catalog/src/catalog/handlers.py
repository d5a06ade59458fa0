"""Command handlers: the catalog's use cases, each in one unit of work.

HTTP routes call these, the stock saga's consumer calls `catalog.saga`; neither touches
SQL itself. Commands that change a product lock its row first, in the repository's lock
order (a preconfigured product's base product before it).

Configurable products change through `edit_configuration`: one edit function of
`catalog.configuration` (add a part, change an option, add a rule...) applied to the
locked product; the product's preconfigured products are checked against the result
(still valid, or the edit is refused) and follow it (option names, stock).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

from catalog.domain import CONFIGURABLE, PRECONFIGURED, SIMPLE, Category, Product
from catalog.storage.uow import CatalogUnitOfWork as UnitOfWork
from marcus_eventstore import Conflict, DomainError, NotFound
from marcus_pricing import Configuration


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
    kind: str = SIMPLE
    base_product_id: UUID | None = None
    """Preconfigured products: the configurable product they are a selection of."""
    options: Sequence[UUID] = ()
    """Preconfigured products: the options they include."""


@dataclass(frozen=True)
class UpdateProduct:
    product_id: UUID
    changes: dict[str, Any]
    category_id: UUID | None = None
    expected_version: int | None = None
    options: Sequence[UUID] | None = None
    """Preconfigured products: a new selection of options."""


EditResult = Configuration | tuple[Configuration, UUID]
Edit = Callable[[Configuration], EditResult]


@dataclass(frozen=True)
class EditConfiguration:
    """Apply `edit` (a function of catalog.configuration, arguments bound) to a
    configurable product; it may return the id of the part/option/rule it created."""

    product_id: UUID
    edit: Edit
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
    product = await uow.repo.product_for_change(product_id)
    if product is None:
        raise NotFound(f"product {product_id} does not exist")
    return product


async def _base(uow: UnitOfWork, base_product_id: UUID | None) -> Product:
    """The configurable product a preconfigured product is (or will be) a selection of,
    locked (the lock order puts it before its preconfigured products)."""
    base = None if base_product_id is None else await uow.repo.product(base_product_id, lock=True)
    if base is None:
        raise DomainError(f"product {base_product_id} does not exist")
    if base.kind != CONFIGURABLE:
        raise DomainError(f"product {base.sku} is not configurable")
    return base


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
        if cmd.kind == PRECONFIGURED:
            base = await _base(uow, cmd.base_product_id)
            category = await _category(uow, cmd.category_id)
            product = Product.create_preset(
                base=base,
                selection=list(cmd.options),
                sku=cmd.sku,
                name=cmd.name,
                description=cmd.description,
                price=cmd.price,
                currency=cmd.currency,
                category=category,
                attributes=cmd.attributes,
            )
        else:
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
                kind=cmd.kind,
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
        if cmd.options is not None:
            if product.kind != PRECONFIGURED:
                raise DomainError(
                    f"product {product.sku} is not preconfigured: choose options in a quote"
                    " or an order, or edit its parts"
                )
            product.reselect(await _base(uow, product.base_product_id), list(cmd.options))
        await uow.commit()


async def delete_product(cmd: DeleteProduct, uow: UnitOfWork) -> None:
    async with uow:
        product = await _product(uow, cmd.product_id)
        product.expect_version(cmd.expected_version)
        if product.kind == CONFIGURABLE:
            presets = await uow.repo.presets_of([product.id])
            if presets:
                skus = ", ".join(sorted(p.sku for p in presets.values()))
                raise Conflict(
                    f"{product.sku} has preconfigured products ({skus}): delete them first"
                )
        product.delete()
        await uow.commit()


async def edit_configuration(cmd: EditConfiguration, uow: UnitOfWork) -> UUID | None:
    """Returns the id of the created part, option or rule (None for other edits)."""
    async with uow:
        product = await _product(uow, cmd.product_id)
        product.expect_version(cmd.expected_version)
        product.ensure_configurable()
        result = cmd.edit(product.configuration)
        new, created = result if isinstance(result, tuple) else (result, None)
        presets = list((await uow.repo.presets_of([product.id])).values())
        product.reconfigure(new, presets)
        for preset in presets:
            preset.follow(product)
        await uow.commit()
        return created


async def set_stock(cmd: SetStock, uow: UnitOfWork) -> None:
    async with uow:
        product = await _product(uow, cmd.product_id)
        product.expect_version(cmd.expected_version)
        product.set_stock(cmd.stock, cmd.reason)
        await uow.commit()
