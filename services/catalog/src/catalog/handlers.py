"""Command handlers: the catalog's use cases, each in one unit of work.

HTTP routes call these, and so do the stock saga's event handlers (`catalog.consumer`:
`reserve_stock`, `release_stock`); none touches SQL itself. Commands that change a
product lock its row first, in the repository's lock order (a preconfigured product's
base product before it).

Configurable products change through `edit_configuration`: one edit function of
`catalog.configuration` (add a part, change an option, add a rule...) applied to the
locked product; the product's preconfigured products are checked against the result
(still valid, or the edit is refused) and follow it (option names, stock).

The catalog's part of the order saga: check, price and reserve a placed order, all lines
or none (`reserve_stock`), and release it when the order is cancelled (`release_stock`).
The consumer runs both in its ledger transaction (`UnitOfWork.joining`), so the order
event is marked processed if and only if the stock change and its events commit.
Checking and pricing is `catalog.allocation.plan` (pure): every line's configuration
validated, every line priced (the only pricing there is), then the units each product
and each option must give, summed over the order's lines. The answer is one event of the
order's reservation: `catalog.stock.allocated` with the priced lines, or
`catalog.stock.rejected` with every problem found. Stock moves are product events:
`catalog.stock.reserved` per simple product, `catalog.option_stock.reserved` per
configurable product whose options were taken, and `catalog.stock.adjusted` for each
preconfigured product whose stock (what its options allow) changed with them.

Never overselling, with concurrent orders and several catalog replicas: the order's
products are locked (SELECT ... FOR UPDATE) before their stock is read: simple and
configurable products (a preconfigured line locks its base product) in id order, then
the preconfigured products of the locked configurable products, in id order (the
repository's lock order, which API writes follow too). Two reservations of one product
or one option run one after the other, and no two commands can deadlock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeAlias
from uuid import UUID

from catalog.allocation import LineRequest, plan
from catalog.domain import (
    CONFIGURABLE,
    PRECONFIGURED,
    SIMPLE,
    Category,
    OrderReservation,
    Product,
)
from catalog.storage.uow import CatalogUnitOfWork as UnitOfWork
from marcus_eventstore import Conflict, DomainError, NotFound
from marcus_pricing import Configuration

log = logging.getLogger("catalog.saga")


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


EditResult: TypeAlias = Configuration | tuple[Configuration, UUID]
Edit: TypeAlias = Callable[[Configuration], EditResult]


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


@dataclass(frozen=True)
class ReserveStock:
    order_id: UUID
    lines: Sequence[LineRequest | tuple[UUID, int]]
    """The order's lines, in order; `(product id, quantity)` for a line without options.
    A product or an option may be asked for by several lines: they add up."""
    currency: str | None = None
    """The order's currency (every line must be sold in it); None: the products'."""

    def requests(self) -> list[LineRequest]:
        return [
            line if isinstance(line, LineRequest) else LineRequest(line[0], line[1])
            for line in self.lines
        ]


@dataclass(frozen=True)
class ReleaseStock:
    order_id: UUID


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
        details: dict[str, Any] = {
            "sku": cmd.sku,
            "name": cmd.name,
            "description": cmd.description,
            "price": cmd.price,
            "currency": cmd.currency,
            "attributes": cmd.attributes,
        }
        if cmd.kind == PRECONFIGURED:
            base = await _base(uow, cmd.base_product_id)
            category = await _category(uow, cmd.category_id)
            product = Product.create_preset(
                base=base, selection=list(cmd.options), category=category, **details
            )
        else:
            category = await _category(uow, cmd.category_id)
            product = Product.create(category=category, stock=cmd.stock, kind=cmd.kind, **details)
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


async def reserve_stock(cmd: ReserveStock, uow: UnitOfWork) -> bool:
    """True if every line was reserved; False if the order was rejected (one
    `catalog.stock.rejected` naming every problem, and no stock moved)."""
    async with uow:
        requests = cmd.requests()
        products = await _lock_for_order(uow, [r.product_id for r in requests])
        decision = plan(requests, products, cmd.currency)
        if decision.refusals:
            uow.repo.add(OrderReservation.rejected(cmd.order_id, decision.refusals))
        else:
            for product_id, quantity in decision.simple.items():
                products[product_id].reserve(cmd.order_id, quantity)
            for base_id, demand in decision.options.items():
                products[base_id].reserve_options(cmd.order_id, demand)
            _follow_bases(products, decision.options)
            uow.repo.add(
                OrderReservation.allocated(
                    cmd.order_id, decision.currency, decision.lines, decision.total
                )
            )
        await uow.commit()
        return not decision.refusals


async def release_stock(cmd: ReleaseStock, uow: UnitOfWork) -> int:
    """Put back what is still reserved for the order; returns how many products."""
    async with uow:
        lines = await uow.repo.reserved_lines(cmd.order_id)
        held = await uow.repo.reserved_options(cmd.order_id)
        found = await _lock_for_order(uow, [product_id for product_id, _ in lines] + list(held))
        released = 0
        for product_id, quantity in lines:
            product = found.get(product_id)
            if product is None:  # deleted since: nothing to put the units back on
                log.warning(
                    "order %s: product %s was deleted; %d units not released",
                    cmd.order_id,
                    product_id,
                    quantity,
                )
                continue
            product.release(cmd.order_id, quantity)
            released += 1
        for base_id, options in held.items():
            base = found.get(base_id)
            gone = list(options) if base is None else base.release_options(cmd.order_id, options)
            if gone:
                log.warning(
                    "order %s: options %s of product %s were deleted; their units not released",
                    cmd.order_id,
                    ", ".join(map(str, gone)),
                    base_id,
                )
            if base is not None and len(gone) < len(options):
                released += 1
        _follow_bases(found, held)
        await uow.commit()
        return released


async def _lock_for_order(uow: UnitOfWork, product_ids: list[UUID]) -> dict[UUID, Product]:
    """Lock what an order touches, in the lock order: the simple and configurable
    products (a preconfigured product stands for its base product) in id order, then
    the preconfigured products of those configurable products."""
    heads = await uow.repo.heads(product_ids)
    first = {
        base_id if kind == PRECONFIGURED and base_id is not None else product_id
        for product_id, (kind, base_id) in heads.items()
    }
    locked = await uow.repo.products_for_update(sorted(first))
    bases = [p.id for p in locked.values() if p.kind == CONFIGURABLE]
    return locked | await uow.repo.presets_of(bases)


def _follow_bases(products: dict[UUID, Product], moved: dict[UUID, dict[UUID, int]]) -> None:
    """Preconfigured products of configurable products whose option stock moved."""
    for product in products.values():
        if product.kind == PRECONFIGURED and product.base_product_id in moved:
            base = products[product.base_product_id]
            if not base.deleted:
                product.follow(base)
