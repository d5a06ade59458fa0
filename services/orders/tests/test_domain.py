"""The Order aggregate and pricing: pure logic, no I/O."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

import pytest

from marcus_contracts.events import orders as ev
from marcus_eventstore import Conflict, DomainError
from orders.domain import Order, PricedProduct, UnknownProducts, price_lines

TEA = PricedProduct(UUID(int=1), "TEA", "Tea", Decimal("4.10"), "EUR")
CUP = PricedProduct(UUID(int=2), "CUP", "Cup", Decimal("0.33"), "EUR")
USD = PricedProduct(UUID(int=3), "USD", "Import", Decimal("1.00"), "USD")
KNOWN = {p.id: p for p in (TEA, CUP, USD)}


def test_prices_lines_in_decimal_and_sums_the_total() -> None:
    lines, total, currency = price_lines([(TEA.id, 3), (CUP.id, 7)], KNOWN)
    assert [line.line_total for line in lines] == [Decimal("12.30"), Decimal("2.31")]
    assert total == Decimal("14.61") and isinstance(total, Decimal)
    assert currency == "EUR"
    assert lines[0].unit_price == Decimal("4.10") and lines[0].name == "Tea"


def test_unknown_products_name_their_positions() -> None:
    missing = UUID(int=99)
    with pytest.raises(UnknownProducts) as raised:
        price_lines([(TEA.id, 1), (missing, 1)], KNOWN)
    assert raised.value.positions == [1] and raised.value.product_ids == [missing]


def test_one_currency_per_order() -> None:
    with pytest.raises(DomainError, match="one currency"):
        price_lines([(TEA.id, 1), (USD.id, 1)], KNOWN)


def _order() -> Order:
    lines, total, currency = price_lines([(TEA.id, 1)], KNOWN)
    return Order.place(
        UUID(int=10), customer="c", email="c@x.test", lines=lines, total=total, currency=currency
    )


def test_state_machine_records_one_event_per_real_transition() -> None:
    order = _order()
    assert [type(e) for e in order.pending] == [ev.OrderPlacedV1]
    with pytest.raises(Conflict, match="still being confirmed"):
        order.cancel("c")
    with pytest.raises(Conflict):
        order.ship("ops")
    assert order.confirm() is True
    assert order.confirm() is False  # a redelivered answer changes nothing
    assert order.reject([]) is False
    order.ship("ops")
    order.ship("ops")
    with pytest.raises(Conflict, match="shipped cannot be cancelled"):
        order.cancel("c")
    assert [type(e) for e in order.pending] == [
        ev.OrderPlacedV1,
        ev.OrderConfirmedV1,
        ev.OrderShippedV1,
    ]
    assert order.pending[-1].shipped_by == "ops"  # type: ignore[attr-defined]


def test_cancel_is_idempotent_and_rejected_orders_stay_rejected() -> None:
    confirmed = _order()
    confirmed.confirm()
    confirmed.cancel("c")
    confirmed.cancel("c")
    assert sum(isinstance(e, ev.OrderCancelledV1) for e in confirmed.pending) == 1

    rejected = _order()
    reason = ev.RejectionReason(
        product_id=TEA.id, reason="insufficient_stock", requested=1, available=0
    )
    assert rejected.reject([reason]) is True
    assert rejected.confirm() is False
    with pytest.raises(Conflict):
        rejected.cancel("c")
    assert rejected.pending[-1].reasons == [reason]  # type: ignore[attr-defined]
