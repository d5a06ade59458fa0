"""Deciding a whole order (pure logic, no I/O).

`price_line` (marcus_pricing, shared with the orders service's cart) is the one function
that prices a line of any product kind; the quote endpoint prices one line with it, the
stock saga every line of an order. `plan` decides an order: every line valid and priced,
then the stock each product and option must give (summed over the order's lines, since
two lines may share an option) compared with what it has. The order is reserved in full
or refused with every problem found.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

from catalog import configuration as cfg
from catalog.domain import Product
from marcus_contracts.events import catalog as ev
from marcus_pricing import PricedOption
from marcus_pricing.lines import CENT, PricedLine, price_line

__all__ = [
    "LineRequest",
    "Plan",
    "PricedLine",
    "allocated_line",
    "plan",
    "price_line",
    "priced_option",
]


@dataclass(frozen=True)
class LineRequest:
    """What an order line (or a quote) asks for."""

    product_id: UUID
    quantity: int
    options: tuple[UUID, ...] = ()


def priced_option(option: PricedOption, included: bool) -> dict[str, Any]:
    """An option of a priced line as answers show it (a preconfigured product's options
    are included in its price: no price of their own)."""
    return {
        "option_id": option.option.id,
        "part_id": option.part.id,
        "part": option.part.name,
        "name": option.option.name,
        "list_price": option.option.price,
        "price": None if included else option.price,
    }


def allocated_line(index: int, line: PricedLine, quantity: int) -> ev.AllocatedLine:
    """A priced line as the catalog's answer carries it."""
    unit_price = line.priced.unit_price.quantize(CENT)
    return ev.AllocatedLine(
        line=index,
        product_id=line.product.id,
        sku=line.product.sku,
        name=line.product.name,
        kind=line.product.kind,
        base_product_id=line.product.base_product_id,
        quantity=quantity,
        base_price=line.priced.base_price,
        options=[
            ev.PricedOption(
                **priced_option(o, line.included), price_rule_id=o.rule.id if o.rule else None
            )
            for o in line.priced.options
        ],
        unit_price=unit_price,
        line_total=(unit_price * quantity).quantize(CENT),
    )


@dataclass
class Plan:
    """The catalog's decision on an order: what to take from whom, and the priced
    lines; or `refusals` (then nothing is taken)."""

    currency: str
    lines: list[ev.AllocatedLine] = field(default_factory=list)
    simple: dict[UUID, int] = field(default_factory=dict)
    """Simple product -> units."""
    options: dict[UUID, dict[UUID, int]] = field(default_factory=dict)
    """Configurable product -> option -> units (all lines of the order together)."""
    refusals: list[ev.RejectedLine] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((line.line_total for line in self.lines), Decimal("0.00"))


def plan(
    requests: Sequence[LineRequest], products: Mapping[UUID, Product], currency: str | None
) -> Plan:
    """Check and price every line, then the stock for all of them together."""
    known = [products.get(r.product_id) for r in requests]
    order_currency = currency or next((p.currency for p in known if p is not None), "EUR")
    decision = Plan(order_currency)
    simple_lines: defaultdict[UUID, list[int]] = defaultdict(list)
    option_lines: defaultdict[tuple[UUID, UUID], list[int]] = defaultdict(list)
    for index, (request, product) in enumerate(zip(requests, known, strict=True)):
        refuse = _refuser(decision, index, request)
        if product is None or product.deleted:
            refuse("unknown_product", "no longer sold")
            continue
        if product.currency != order_currency:
            refuse(
                "currency_mismatch",
                f"{product.name} is sold in {product.currency}, the order is in {order_currency}",
            )
            continue
        outcome = price_line(product, products, request.options)
        if isinstance(outcome, list):
            for violation in outcome:
                option_id = violation.option_ids[0] if violation.option_ids else None
                refuse("invalid_configuration", violation.message, option_id)
            continue
        decision.lines.append(allocated_line(index, outcome, request.quantity))
        if outcome.base is None:
            simple_lines[product.id].append(index)
            decision.simple[product.id] = decision.simple.get(product.id, 0) + request.quantity
            continue
        wanted = decision.options.setdefault(outcome.base.id, {})
        for option_id, units in outcome.demand().items():
            wanted[option_id] = wanted.get(option_id, 0) + units * request.quantity
            option_lines[(outcome.base.id, option_id)].append(index)
    for product_id, units in decision.simple.items():
        product = products[product_id]
        if product.stock < units:
            message = cfg.out_of_stock_message(product.name, units, product.stock)
            decision.refusals.append(
                _short(
                    simple_lines[product_id], requests, product_id, units, product.stock, message
                )
            )
    for base_id, wanted in decision.options.items():
        base = products[base_id]
        for option_id, units in wanted.items():
            option = base.configuration.options[option_id]
            if option.stock < units:
                message = cfg.out_of_stock_message(option.name, units, option.stock)
                lines = option_lines[(base_id, option_id)]
                decision.refusals.append(
                    _short(lines, requests, base_id, units, option.stock, message, option_id)
                )
    if decision.refusals:
        decision.lines.clear()
    return decision


def _refuser(decision: Plan, index: int, request: LineRequest):  # type: ignore[no-untyped-def]
    def refuse(reason: ev.RejectionCode, message: str, option_id: UUID | None = None) -> None:
        decision.refusals.append(
            ev.RejectedLine(
                product_id=request.product_id,
                requested=request.quantity,
                available=0,
                reason=reason,
                line=index,
                option_id=option_id,
                message=message,
            )
        )

    return refuse


def _short(
    lines: list[int],
    requests: Sequence[LineRequest],
    holder: UUID,
    units: int,
    available: int,
    message: str,
    option_id: UUID | None = None,
) -> ev.RejectedLine:
    """Too little stock for what `lines` ask together: named by the line when one line
    asks it all, else by the product that holds the stock."""
    single = lines[0] if len(lines) == 1 else None
    return ev.RejectedLine(
        product_id=requests[single].product_id if single is not None else holder,
        requested=units,
        available=available,
        reason="insufficient_stock",
        line=single,
        option_id=option_id,
        message=message,
    )
