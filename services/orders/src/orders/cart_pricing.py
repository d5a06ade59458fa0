"""Checking and pricing cart lines with the catalog's rules (marcus_pricing) over the
orders read model. Pure: the products come in as values.

Used when a line is added or its quantity set (refused at once if it cannot be bought),
when the cart is read (current prices and availability, what moved since the line was
added) and at checkout (every line still sellable, the total the customer saw).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal
from uuid import UUID

from marcus_contracts.events.cart import CartLine
from marcus_contracts.events.orders import LineOption
from marcus_eventstore.aggregate import DomainError
from marcus_pricing import CENT, PricedLine, Product, Violation, price_line
from orders.cart import Item

Change = Literal["price", "availability"]


class UnknownProduct(DomainError):
    """The product does not exist in the read model, or was deleted (422)."""

    def __init__(self, product_id: UUID) -> None:
        super().__init__(f"unknown or deleted product {product_id}")
        self.product_id = product_id


class LineRefused(DomainError):
    """The line breaks the catalog's rules: a configuration rule, a required part,
    options on a product that takes none, too little stock (422, every violation)."""

    def __init__(self, name: str, violations: Sequence[Violation]) -> None:
        super().__init__(f"{name}: " + "; ".join(v.message for v in violations))
        self.name = name
        self.violations = list(violations)


def quote_item(
    product_id: UUID,
    options: Sequence[UUID],
    quantity: int,
    known: Mapping[UUID, Product],
) -> Item:
    """The item priced now, with stock for `quantity`; or UnknownProduct / LineRefused."""
    product = known.get(product_id)
    if product is None or product.deleted:
        raise UnknownProduct(product_id)
    outcome = price_line(product, known, options, stock_for=quantity)
    if isinstance(outcome, list):
        raise LineRefused(product.name, outcome)
    return item_of(outcome)


def item_of(line: PricedLine) -> Item:
    """A priced line as the cart keeps it: a configuration's options named and priced as
    the catalog's quote does; a preconfigured product's included options are its own
    (the catalog names them when it confirms the order)."""
    product = line.product
    options = (
        ()
        if line.included
        else tuple(
            LineOption(
                option_id=o.option.id,
                part=o.part.name,
                name=o.option.name,
                price=o.price,
                price_rule_id=o.rule.id if o.rule else None,
            )
            for o in line.priced.options
        )
    )
    return Item(
        product_id=product.id,
        sku=product.sku,
        name=product.name,
        kind=product.kind,
        unit_price=line.unit_price,
        currency=product.currency,
        base_product_id=product.base_product_id,
        options=options,
    )


@dataclass(frozen=True)
class LineNow:
    """A cart line as it stands now."""

    line: CartLine
    unit_price: Decimal | None
    """The catalog's price now; None when the line cannot be priced (product gone, a
    configuration a rule changed since)."""
    problems: list[str] = field(default_factory=list)
    """Why it cannot be bought now (the catalog's words); empty when it can."""
    item: Item | None = None

    @property
    def available(self) -> bool:
        return not self.problems

    @property
    def line_total(self) -> Decimal | None:
        if self.unit_price is None:
            return None
        return (self.unit_price * self.line.quantity).quantize(CENT)

    @property
    def changed(self) -> list[Change]:
        """What moved since the line was added (or its quantity last set)."""
        moved: list[Change] = []
        if self.unit_price is not None and self.unit_price != self.line.unit_price:
            moved.append("price")
        if not self.available:
            moved.append("availability")
        return moved


@dataclass(frozen=True)
class CartNow:
    lines: list[LineNow]
    currency: str | None

    @property
    def total(self) -> Decimal:
        """The lines that can be priced now (a checkout needs every line sellable)."""
        return sum(
            (line.line_total for line in self.lines if line.line_total is not None),
            Decimal("0.00"),
        )

    @property
    def unsellable(self) -> list[LineNow]:
        return [line for line in self.lines if not line.available]


def line_now(line: CartLine, known: Mapping[UUID, Product]) -> LineNow:
    product = known.get(line.product_id)
    if product is None or product.deleted:
        return LineNow(line, None, [f"{line.name} is no longer sold"])
    option_ids = [o.option_id for o in line.options]
    priced = price_line(product, known, option_ids)
    if isinstance(priced, list):
        return LineNow(line, None, [v.message for v in priced])
    stocked = price_line(product, known, option_ids, stock_for=line.quantity)
    problems = [v.message for v in stocked] if isinstance(stocked, list) else []
    if product.currency != line.currency:
        problems.append(f"{product.name} is now sold in {product.currency}")
    return LineNow(line, priced.unit_price, problems, item_of(priced))


def cart_now(lines: Sequence[CartLine], known: Mapping[UUID, Product]) -> CartNow:
    return CartNow([line_now(line, known) for line in lines], lines[0].currency if lines else None)
