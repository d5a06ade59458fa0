"""The operations console's view of a delivery (pure: a row in, the API's shape out)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from uuid import UUID

from notifier.api.admin import email_out

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
ORDER = UUID("01935f3c-0000-7000-8000-0000abcdef12")


def _row(**about: object) -> SimpleNamespace:
    """A `deliveries` row of a sent e-mail (about nothing until `about` says)."""
    return SimpleNamespace(
        **{
            "id": UUID(int=1),
            "event_id": UUID(int=2),
            "recipient": "eve@example.com",
            "event_type": "orders.order.confirmed",
            "order_id": None,
            "cart_id": None,
            "message_id": "<1@x.test>",
            "status": "sent",
            "attempts": 1,
            "last_error": None,
            "smtp_response": "250 OK",
            "created_at": NOW,
            "updated_at": NOW,
            "sent_at": NOW,
            **about,
        }
    )


def test_an_order_email_shows_its_subject_with_the_orders_reference() -> None:
    email = email_out(_row(order_id=ORDER))
    assert (email.delivery_id, email.kind, email.order_id) == (UUID(int=1), "order", ORDER)
    assert email.subject == "Your order is confirmed (abcdef12)"
    assert (email.status, email.attempts, email.message_id) == ("sent", 1, "<1@x.test>")


def test_a_reminder_is_about_a_cart() -> None:
    email = email_out(_row(event_type="orders.cart.abandoned", cart_id=UUID(int=3)))
    assert (email.kind, email.cart_id) == ("cart", UUID(int=3))
    assert email.subject == "You left something in your cart"
