"""The Order aggregate and its lines: pure logic, no I/O."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

import pytest

from marcus_contracts.events import catalog as catalog_events
from marcus_contracts.events import orders as ev
from marcus_eventstore import Conflict, DomainError
from orders.domain import (
    LineRequest,
    OptionsNotAllowed,
    Order,
    PricedProduct,
    UnknownProducts,
    draft_lines,
)

TEA = PricedProduct(UUID(int=1), "TEA", "Tea", Decimal("4.10"), "EUR")
CUP = PricedProduct(UUID(int=2), "CUP", "Cup", Decimal("0.33"), "EUR")
USD = PricedProduct(UUID(int=3), "USD", "Import", Decimal("1.00"), "USD")
BIKE = PricedProduct(UUID(int=4), "BIKE", "Bike", Decimal("400.00"), "EUR", "configurable")
TRAIL = PricedProduct(
    UUID(int=5), "TRAIL", "Trail bike", Decimal("999.00"), "EUR", "preconfigured", BIKE.id
)
KNOWN = {p.id: p for p in (TEA, CUP, USD, BIKE, TRAIL)}
FRAME, WHEELS = UUID(int=40), UUID(int=41)


def test_simple_lines_show_the_catalogs_published_price_as_an_estimate() -> None:
    lines, total, currency = draft_lines([(TEA.id, 3), (CUP.id, 7)], KNOWN)
    assert [line.line_total for line in lines] == [Decimal("12.30"), Decimal("2.31")]
    assert total == Decimal("14.61") and isinstance(total, Decimal)
    assert currency == "EUR"
    assert lines[0].unit_price == Decimal("4.10") and lines[0].name == "Tea"


def test_a_configured_line_has_no_price_until_the_catalog_prices_it() -> None:
    lines, total, _ = draft_lines(
        [LineRequest(BIKE.id, 2, (FRAME, WHEELS)), LineRequest(TRAIL.id, 1)], KNOWN
    )
    bike, trail = lines
    assert (bike.kind, bike.unit_price, bike.line_total) == ("configurable", None, None)
    assert [o.option_id for o in bike.options] == [FRAME, WHEELS]
    assert (trail.kind, trail.base_product_id, trail.unit_price) == (
        "preconfigured",
        BIKE.id,
        Decimal("999.00"),
    )
    assert total is None  # not known while a line is unpriced


def test_only_configurable_products_take_options() -> None:
    with pytest.raises(OptionsNotAllowed) as raised:
        draft_lines([LineRequest(TEA.id, 1, (FRAME,)), LineRequest(TRAIL.id, 1, (FRAME,))], KNOWN)
    assert raised.value.positions == [0, 1]


def test_unknown_products_name_their_positions() -> None:
    missing = UUID(int=99)
    with pytest.raises(UnknownProducts) as raised:
        draft_lines([(TEA.id, 1), (missing, 1)], KNOWN)
    assert raised.value.positions == [1] and raised.value.product_ids == [missing]


def test_one_currency_per_order() -> None:
    with pytest.raises(DomainError, match="one currency"):
        draft_lines([(TEA.id, 1), (USD.id, 1)], KNOWN)


def _order(*requests: LineRequest | tuple[UUID, int]) -> Order:
    lines, total, currency = draft_lines(list(requests) or [(TEA.id, 1)], KNOWN)
    return Order.place(
        UUID(int=10), customer="c", email="c@x.test", lines=lines, total=total, currency=currency
    )


def _allocated(order: Order, *unit_prices: str) -> catalog_events.StockAllocated:
    """The catalog's answer, pricing line i at unit_prices[i]."""
    lines = [
        catalog_events.AllocatedLine(
            line=i,
            product_id=line.product_id,
            sku=line.sku,
            name=line.name,
            kind=line.kind,
            quantity=line.quantity,
            base_price=Decimal(price),
            unit_price=Decimal(price),
            line_total=Decimal(price) * line.quantity,
        )
        for i, (line, price) in enumerate(zip(order.lines, unit_prices, strict=True))
    ]
    total = sum((line.line_total for line in lines), Decimal("0"))
    return catalog_events.StockAllocated(
        order_id=order.id, currency="EUR", lines=lines, total=total
    )


def test_confirmation_records_the_catalogs_prices() -> None:
    order = _order(LineRequest(BIKE.id, 2, (FRAME,)), (TEA.id, 1))
    allocated = _allocated(order, "530.00", "4.20")

    assert order.confirm(allocated) is True

    confirmed = order.pending[-1]
    assert isinstance(confirmed, ev.OrderConfirmed)
    assert [line.unit_price for line in confirmed.lines] == [Decimal("530.00"), Decimal("4.20")]
    assert [line.line_total for line in confirmed.lines] == [Decimal("1060.00"), Decimal("4.20")]
    assert confirmed.total == Decimal("1064.20") == order.total  # the catalog's, not a sum


def test_an_answer_that_does_not_match_the_order_is_refused() -> None:
    order = _order((TEA.id, 1), (CUP.id, 1))
    short = _allocated(_order((TEA.id, 1)), "4.10")
    with pytest.raises(DomainError, match="does not match"):
        order.confirm(short)
    assert order.status == "pending"


def test_state_machine_records_one_event_per_real_transition() -> None:
    order = _order()
    assert [type(e) for e in order.pending] == [ev.OrderPlaced]
    with pytest.raises(Conflict, match="still being confirmed"):
        order.cancel("c")
    with pytest.raises(Conflict):
        order.ship("ops")
    assert order.confirm(_allocated(order, "4.10")) is True
    assert order.confirm(_allocated(order, "4.10")) is False  # a redelivered answer
    assert order.reject([]) is False
    order.ship("ops")
    order.ship("ops")
    with pytest.raises(Conflict, match="shipped cannot be cancelled"):
        order.cancel("c")
    assert [type(e) for e in order.pending] == [
        ev.OrderPlaced,
        ev.OrderConfirmed,
        ev.OrderShipped,
    ]
    assert order.pending[-1].shipped_by == "ops"  # type: ignore[attr-defined]


def test_cancel_is_idempotent_and_rejected_orders_stay_rejected() -> None:
    confirmed = _order()
    confirmed.confirm(_allocated(confirmed, "4.10"))
    confirmed.cancel("c")
    confirmed.cancel("c")
    assert sum(isinstance(e, ev.OrderCancelled) for e in confirmed.pending) == 1

    rejected = _order()
    reason = ev.RejectionReason(
        product_id=TEA.id, reason="insufficient_stock", requested=1, available=0
    )
    assert rejected.reject([reason]) is True
    assert rejected.confirm(_allocated(rejected, "4.10")) is False
    with pytest.raises(Conflict):
        rejected.cancel("c")
    assert rejected.pending[-1].reasons == [reason]  # type: ignore[attr-defined]


def test_delivered_only_after_shipped_once() -> None:
    order = _order()
    order.confirm(_allocated(order, "4.10"))
    with pytest.raises(Conflict, match="cannot be delivered"):
        order.deliver("ops")
    order.ship("ops")
    order.deliver("ops")
    order.deliver("ops")  # a repeat records nothing
    delivered = [e for e in order.pending if isinstance(e, ev.OrderDelivered)]
    assert len(delivered) == 1 and delivered[0].delivered_by == "ops"
    assert order.status == "delivered"
    with pytest.raises(Conflict, match="delivered cannot be cancelled"):
        order.cancel("ops")


def test_order_events_carry_the_cart_and_address_of_a_checkout() -> None:
    address = ev.ShippingAddress(
        name="Ada", lines=["1 Main Street"], city="Lisbon", postal_code="1100", country="PT"
    )
    lines, total, currency = draft_lines([(TEA.id, 1)], KNOWN)
    order = Order.place(
        UUID(int=11),
        customer="c",
        email="c@x.test",
        lines=lines,
        total=total,
        currency=currency,
        cart_id=UUID(int=12),
        address=address,
    )
    order.confirm(_allocated(order, "4.10"))
    assert all(e.address == address and e.cart_id == UUID(int=12) for e in order.pending)  # type: ignore[attr-defined]
    # an order placed from raw lines leaves both out of its events' JSON
    plain = _order()
    assert "address" not in plain.pending[0].model_dump(mode="json")
