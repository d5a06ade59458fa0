"""Order and cart events as the orders service writes them, for the notifier's tests
(pure builders: no database, no Redis)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

from marcus_contracts import Envelope, new_event_id, registry
from marcus_contracts.events import cart as cart_ev
from marcus_contracts.events import orders as ev
from marcus_contracts.events.history import orders as order_history


def order_event(
    event_type: type[order_history._OrderSnapshotV1] = order_history.OrderConfirmedV1,
    *,
    email: str = "eve@example.com",
) -> Envelope:
    order_id = new_event_id()
    line = order_history.OrderLine(
        product_id=UUID(int=7),
        sku="TEA-1",
        name="Green tea",
        unit_price=Decimal("4.50"),
        quantity=2,
        line_total=Decimal("9.00"),
    )
    event = event_type(
        order_id=order_id,
        customer="eve",
        email=email,
        currency="EUR",
        lines=[line],
        total=Decimal("9.00"),
    )
    return registry.envelope(event, subject=str(order_id), sequence=2)


def cart_abandoned(
    *, email: str | None = "eve@example.com", reminders: bool = True, customer: str = "eve"
) -> Envelope:
    """An `orders.cart.abandoned` envelope as the orders service writes it: a simple
    line and a configured bike, idle since yesterday."""
    cart_id = new_event_id()
    tea = cart_ev.CartLine(
        line_id=UUID(int=1),
        product_id=UUID(int=7),
        sku="TEA-1",
        name="Green tea",
        quantity=3,
        unit_price=Decimal("4.50"),
        currency="EUR",
    )
    bike = cart_ev.CartLine(
        line_id=UUID(int=2),
        product_id=UUID(int=8),
        sku="BIKE",
        name="Trail bike",
        kind="configurable",
        options=[
            ev.LineOption(
                option_id=UUID(int=9), part="Frame", name="Full suspension", price=Decimal("130")
            )
        ],
        quantity=1,
        unit_price=Decimal("530.00"),
        currency="EUR",
    )
    event = cart_ev.CartAbandoned(
        cart_id=cart_id,
        customer=customer,
        email=email,
        lines=[tea, bike],
        reminders=reminders,
        idle_since=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
        total=Decimal("543.50"),
        currency="EUR",
    )
    return registry.envelope(event, subject=str(cart_id), sequence=3)
