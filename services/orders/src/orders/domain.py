"""The Order aggregate: its lines, the state machine, and the events it records. No I/O.

    pending --(catalog reserved and priced every line)--> confirmed --(customer, admin)--> cancelled
        \\--(catalog rejected)--> rejected          \\--(admin)--> shipped --(admin)--> delivered

Prices are the catalog's. The catalog's answer to a placed order
(`catalog.stock.allocated`) carries every line priced, and `confirm` records those lines
and that total as they are: this service never computes a price. While an order is
pending it shows the price the catalog publishes for products whose price does not
depend on a configuration (its read model, from the catalog's product events) as an
estimate; a configured line has no price, and the order no total, until the catalog
answers.

Repeating a transition that already happened (a second cancel, a second ship, a
redelivered answer) changes nothing and records nothing; any other transition from the
wrong state is a Conflict (409).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

from marcus_contracts.events import catalog as catalog_events
from marcus_contracts.events import orders as ev
from marcus_eventstore.aggregate import Aggregate, Conflict, DomainError

CENT = Decimal("0.01")


@dataclass(frozen=True)
class PricedProduct:
    """A product as the orders read model knows it (from the catalog's events)."""

    id: UUID
    sku: str
    name: str
    price: Decimal
    """The catalog's published price; for a configurable product its base price."""
    currency: str
    kind: str = "simple"
    base_product_id: UUID | None = None

    def line_fields(self) -> dict[str, Any]:
        """What an order line of this product copies from it."""
        return {
            "sku": self.sku,
            "name": self.name,
            "kind": self.kind,
            "base_product_id": self.base_product_id,
        }


@dataclass(frozen=True)
class LineRequest:
    product_id: UUID
    quantity: int
    options: tuple[UUID, ...] = ()
    """The configuration of a configurable product: the options chosen."""


class UnknownProducts(DomainError):
    """Lines naming products the read model does not know (or knows as deleted)."""

    def __init__(self, positions: Sequence[int], product_ids: Sequence[UUID]) -> None:
        super().__init__("unknown or deleted product(s): " + ", ".join(map(str, product_ids)))
        self.positions = list(positions)
        self.product_ids = list(product_ids)


class OptionsNotAllowed(DomainError):
    """Lines giving options for a product that takes none (simple or preconfigured)."""

    def __init__(self, positions: Sequence[int], names: Sequence[str]) -> None:
        super().__init__("these products take no options: " + ", ".join(names))
        self.positions = list(positions)
        self.names = list(names)


def draft_lines(
    requested: Sequence[LineRequest | tuple[UUID, int]], known: dict[UUID, PricedProduct]
) -> tuple[list[ev.OrderLine], Decimal | None, str]:
    """The lines of a new order, its estimated total (None while a configured line has
    no price) and its currency. Every product must be known and all in one currency (an
    order is paid in one); only configurable products take options."""
    lines_in = [r if isinstance(r, LineRequest) else LineRequest(r[0], r[1]) for r in requested]
    missing = [i for i, line in enumerate(lines_in) if line.product_id not in known]
    if missing:
        raise UnknownProducts(missing, [lines_in[i].product_id for i in missing])
    fixed = [
        i
        for i, line in enumerate(lines_in)
        if line.options and known[line.product_id].kind != "configurable"
    ]
    if fixed:
        raise OptionsNotAllowed(fixed, [known[lines_in[i].product_id].name for i in fixed])
    currencies = {known[line.product_id].currency for line in lines_in}
    if len(currencies) > 1:
        raise DomainError(f"an order is in one currency; these products use {sorted(currencies)}")
    lines = []
    for line in lines_in:
        product = known[line.product_id]
        configured = product.kind == "configurable"
        unit_price = None if configured else product.price
        lines.append(
            ev.OrderLine(
                product_id=line.product_id,
                quantity=line.quantity,
                **product.line_fields(),
                options=[ev.LineOption(option_id=o) for o in line.options],
                unit_price=unit_price,
                line_total=None
                if unit_price is None
                else (unit_price * line.quantity).quantize(CENT),
            )
        )
    return lines, estimated_total(lines), currencies.pop()


def estimated_total(lines: Sequence[ev.OrderLine]) -> Decimal | None:
    totals = [line.line_total for line in lines]
    if any(total is None for total in totals):
        return None
    return sum((t for t in totals if t is not None), Decimal("0.00"))


def line_as_priced(line: ev.OrderLine, priced: catalog_events.AllocatedLine) -> ev.OrderLine:
    """An order line with the catalog's prices (and, for configurations and
    preconfigured products, the options as the catalog named and priced them)."""
    return line.model_copy(
        update={
            "sku": priced.sku,
            "name": priced.name,
            "options": [
                ev.LineOption.model_validate(o, from_attributes=True) for o in priced.options
            ],
            "unit_price": priced.unit_price,
            "line_total": priced.line_total,
        }
    )


@dataclass
class Order(Aggregate):
    customer: str = ""
    email: str = ""
    currency: str = "EUR"
    lines: list[ev.OrderLine] = field(default_factory=list)
    total: Decimal | None = None
    status: str = "pending"
    cart_id: UUID | None = None
    """The cart it was checked out from (None: placed from raw lines)."""
    address: ev.ShippingAddress | None = None

    @classmethod
    def place(
        cls,
        order_id: UUID,
        *,
        customer: str,
        email: str,
        lines: list[ev.OrderLine],
        total: Decimal | None,
        currency: str,
        cart_id: UUID | None = None,
        address: ev.ShippingAddress | None = None,
    ) -> Order:
        order = cls(
            id=order_id,
            version=0,
            customer=customer,
            email=email,
            currency=currency,
            lines=list(lines),
            total=total,
            cart_id=cart_id,
            address=address,
        )
        order._record(ev.OrderPlaced(**order.snapshot()))
        return order

    def confirm(self, allocated: catalog_events.StockAllocated) -> bool:
        """The catalog reserved every line: record its prices and confirm. False if the
        order is not pending (a redelivered answer)."""
        if self.status != "pending":
            return False
        priced = {line.line: line for line in allocated.lines}
        if set(priced) != set(range(len(self.lines))) or allocated.currency != self.currency:
            raise DomainError(
                f"the catalog's answer for order {self.id} does not match its lines or currency"
            )
        self.lines = [line_as_priced(line, priced[i]) for i, line in enumerate(self.lines)]
        self.total = allocated.total
        self.status = "confirmed"
        self._record(ev.OrderConfirmed(**self.snapshot()))
        return True

    def reject(self, reasons: list[ev.RejectionReason]) -> bool:
        if self.status != "pending":
            return False
        self.status = "rejected"
        self._record(ev.OrderRejected(**self.snapshot(), reasons=reasons))
        return True

    def cancel(self, by: str) -> None:
        if self.status == "pending":
            raise Conflict("the order is still being confirmed; cancel it once it is confirmed")
        if self._move("cancelled", after="confirmed"):
            self._record(ev.OrderCancelled(**self.snapshot(), cancelled_by=by))

    def deliver(self, by: str) -> None:
        if self._move("delivered", after="shipped", hint=" (ship it first)"):
            self._record(ev.OrderDelivered(**self.snapshot(), delivered_by=by))

    def ship(self, by: str) -> None:
        if self._move("shipped", after="confirmed"):
            self._record(ev.OrderShipped(**self.snapshot(), shipped_by=by))

    def _move(self, to: str, *, after: str, hint: str = "") -> bool:
        """Into status `to` from `after` (True); False when already there (a repeat
        records nothing); a Conflict from any other status."""
        if self.status == to:
            return False
        if self.status != after:
            raise Conflict(f"an order that is {self.status} cannot be {to}{hint}")
        self.status = to
        return True

    def snapshot(self) -> dict[str, Any]:
        return {
            "order_id": self.id,
            "customer": self.customer,
            "email": self.email,
            "currency": self.currency,
            "lines": self.lines,
            "total": self.total,
            "cart_id": self.cart_id,
            "address": self.address,
        }
