"""What the notifier's consumer handles: every order event that has an e-mail, and the
abandoned cart; nothing else (placing an order is not final, so it sends none)."""

from __future__ import annotations

from marcus_contracts.events.cart import CartAbandoned
from marcus_contracts.events.orders import OrderDelivered, OrderPlaced
from marcus_messaging import registered
from notifier import consumer
from notifier.emails import EMAIL_EVENTS


def test_each_order_email_and_the_reminder_have_one_handler() -> None:
    handlers = registered(consumer)
    assert set(handlers) == {*EMAIL_EVENTS, CartAbandoned.event_type}
    assert {handlers[t].__name__ for t in EMAIL_EVENTS} == {"on_order_final"}
    assert handlers[CartAbandoned.event_type].__name__ == "on_cart_abandoned"
    assert OrderPlaced.event_type not in handlers and OrderDelivered.event_type not in handlers
