"""The Order aggregate: pricing, the state machine, and the events it records. No I/O.

    pending --(catalog reserved every line)--> confirmed --(customer)--> cancelled
        \\--(catalog rejected)--> rejected         \\--(admin)--> shipped

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

from marcus_contracts.events import orders as ev
from marcus_eventstore.aggregate import Aggregate, Conflict, DomainError

CENT = Decimal("0.01")


@dataclass(frozen=True)
class PricedProduct:
    """A product as the orders read model knows it."""

    id: UUID
    sku: str
    name: str
    price: Decimal
    currency: str


class UnknownProducts(DomainError):
    """Lines naming products the read model does not know (or knows as deleted)."""

    def __init__(self, positions: Sequence[int], product_ids: Sequence[UUID]) -> None:
        super().__init__("unknown or deleted product(s): " + ", ".join(map(str, product_ids)))
        self.positions = list(positions)
        self.product_ids = list(product_ids)


def price_lines(
    requested: Sequence[tuple[UUID, int]], known: dict[UUID, PricedProduct]
) -> tuple[list[ev.OrderLine], Decimal, str]:
    """Lines at today's prices, the total and the currency; every product must be known
    and all in one currency (an order is paid in one)."""
    missing = [i for i, (product_id, _) in enumerate(requested) if product_id not in known]
    if missing:
        raise UnknownProducts(missing, [requested[i][0] for i in missing])
    currencies = {known[product_id].currency for product_id, _ in requested}
    if len(currencies) > 1:
        raise DomainError(f"an order is in one currency; these products use {sorted(currencies)}")
    lines = []
    for product_id, quantity in requested:
        product = known[product_id]
        lines.append(
            ev.OrderLine(
                product_id=product_id,
                sku=product.sku,
                name=product.name,
                unit_price=product.price,
                quantity=quantity,
                line_total=(product.price * quantity).quantize(CENT),
            )
        )
    total = sum((line.line_total for line in lines), Decimal("0.00"))
    return lines, total, currencies.pop()


@dataclass
class Order(Aggregate):
    customer: str = ""
    email: str = ""
    currency: str = "EUR"
    lines: list[ev.OrderLine] = field(default_factory=list)
    total: Decimal = Decimal("0.00")
    status: str = "pending"

    @classmethod
    def place(
        cls,
        order_id: UUID,
        *,
        customer: str,
        email: str,
        lines: list[ev.OrderLine],
        total: Decimal,
        currency: str,
    ) -> Order:
        order = cls(
            id=order_id,
            version=0,
            customer=customer,
            email=email,
            currency=currency,
            lines=list(lines),
            total=total,
        )
        order._record(ev.OrderPlacedV1(**order.snapshot()))
        return order

    @property
    def product_ids(self) -> set[UUID]:
        return {line.product_id for line in self.lines}

    def confirm(self) -> bool:
        if self.status != "pending":
            return False
        self.status = "confirmed"
        self._record(ev.OrderConfirmedV1(**self.snapshot()))
        return True

    def reject(self, reasons: list[ev.RejectionReason]) -> bool:
        if self.status != "pending":
            return False
        self.status = "rejected"
        self._record(ev.OrderRejectedV1(**self.snapshot(), reasons=reasons))
        return True

    def cancel(self, by: str) -> None:
        if self.status == "cancelled":
            return
        if self.status == "pending":
            raise Conflict("the order is still being confirmed; cancel it once it is confirmed")
        if self.status != "confirmed":
            raise Conflict(f"an order that is {self.status} cannot be cancelled")
        self.status = "cancelled"
        self._record(ev.OrderCancelledV1(**self.snapshot(), cancelled_by=by))

    def ship(self, by: str) -> None:
        if self.status == "shipped":
            return
        if self.status != "confirmed":
            raise Conflict(f"an order that is {self.status} cannot be shipped")
        self.status = "shipped"
        self._record(ev.OrderShippedV1(**self.snapshot(), shipped_by=by))

    def snapshot(self) -> dict[str, Any]:
        return {
            "order_id": self.id,
            "customer": self.customer,
            "email": self.email,
            "currency": self.currency,
            "lines": self.lines,
            "total": self.total,
        }
