"""Pricing one line of any product kind (pure logic, no I/O).

`price_line` is the one function that prices a line: the catalog's quote and stock saga
call it with the catalog's own products, the orders service's cart with products from
its read model of the catalog's events. A product is anything with the attributes of
`Product` below (the catalog's aggregate, or `ProductFacts`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol
from uuid import UUID

from marcus_pricing import configuration as cfg
from marcus_pricing.configuration import Configuration

SIMPLE, CONFIGURABLE, PRECONFIGURED = "simple", "configurable", "preconfigured"
CENT = Decimal("0.01")


class Product(Protocol):
    """What pricing reads of a product."""

    @property
    def id(self) -> UUID: ...
    @property
    def sku(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def price(self) -> Decimal:
        """Simple: the price; configurable: the base price; preconfigured: its own."""

    @property
    def currency(self) -> str: ...
    @property
    def stock(self) -> int:
        """Simple products' stock (the others' stock lives on their options)."""

    @property
    def deleted(self) -> bool: ...
    @property
    def configuration(self) -> Configuration: ...
    @property
    def base_product_id(self) -> UUID | None: ...
    @property
    def option_ids(self) -> Sequence[UUID]:
        """Preconfigured products: the options they include."""


@dataclass(frozen=True)
class ProductFacts:
    """A product as a value (a read model's row): satisfies `Product`."""

    id: UUID
    sku: str
    name: str
    price: Decimal
    currency: str
    kind: str = SIMPLE
    stock: int = 0
    deleted: bool = False
    configuration: Configuration = field(default_factory=Configuration)
    base_product_id: UUID | None = None
    option_ids: tuple[UUID, ...] = ()


@dataclass(frozen=True)
class PricedLine:
    product: Product
    base: Product | None
    """Where the stock of the line's options lives (configurable: the product itself;
    preconfigured: its base product); None for simple products."""
    priced: cfg.Priced
    included: bool = False
    """The options are part of a preconfigured product's own price."""

    @property
    def unit_price(self) -> Decimal:
        return self.priced.unit_price.quantize(CENT)

    def demand(self) -> dict[UUID, int]:
        """Units of each option one unit of this line takes."""
        return {o.option.id: 1 for o in self.priced.options}


def price_line(
    product: Product,
    products: Mapping[UUID, Product],
    options: Sequence[UUID],
    *,
    stock_for: int | None = None,
) -> PricedLine | list[cfg.Violation]:
    """The line's price breakdown, or every rule it breaks. `stock_for`: also require
    stock for that many units (the quote; the saga checks stock for the whole order).
    `products` must hold a preconfigured product's base product."""
    violations: list[cfg.Violation] = []
    if product.kind == SIMPLE:
        if options:
            violations.append(_takes_no_options(product, options))
        if stock_for is not None and product.stock < stock_for:
            message = cfg.out_of_stock_message(product.name, stock_for, product.stock)
            violations.append(
                cfg.Violation("out_of_stock", message, requested=stock_for, available=product.stock)
            )
        return violations or PricedLine(product, None, cfg.Priced(product.price, ()))
    if product.kind == CONFIGURABLE:
        violations = cfg.check(
            product.configuration, options, quantity=stock_for or 1, stock=stock_for is not None
        )
        if violations:
            return violations
        return PricedLine(
            product, product, cfg.price(product.configuration, product.price, options)
        )
    assert product.kind == PRECONFIGURED
    base = products.get(product.base_product_id) if product.base_product_id else None
    if base is None or base.deleted:
        return [cfg.Violation("unknown_option", f"{product.name} is no longer available")]
    if options:
        violations.append(
            cfg.Violation(
                "unknown_option",
                f"{product.name} comes with its options; order its configurable product"
                " to choose them",
                tuple(options),
            )
        )
    # Valid by construction (base edits that would break it are refused); checked anyway.
    violations += cfg.check(
        base.configuration,
        product.option_ids,
        quantity=stock_for or 1,
        stock=stock_for is not None,
    )
    if violations:
        return violations
    breakdown = cfg.price(base.configuration, product.price, product.option_ids)
    included = tuple(
        cfg.PricedOption(o.option, o.part, Decimal("0"), None) for o in breakdown.options
    )
    return PricedLine(product, base, cfg.Priced(product.price, included), included=True)


def _takes_no_options(product: Product, options: Sequence[UUID]) -> cfg.Violation:
    return cfg.Violation(
        "unknown_option", f"{product.name} is not configurable: it takes no options", tuple(options)
    )
