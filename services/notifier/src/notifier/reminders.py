"""Abandoned-cart reminders: one e-mail per `orders.cart.abandoned` event and recipient.

The orders service records the event once per idle period (its id is derived from the
cart and `idle_since`), so a delivery id derived from that event id and the recipient
makes "one reminder per idle period" an instance of the order e-mails' exactly-once
delivery. Pure: an event in, e-mails (or the reason there are none) out.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from marcus_contracts import Envelope
from marcus_contracts.events.cart import CartAbandoned, CartLine
from notifier.emails import Email, compose, templates

REMINDER_EVENT = CartAbandoned.event_type
SUBJECT = "You left something in your cart"
OPT_OUT = 'PUT /api/v1/cart/reminders {"enabled": false}'
"""How a customer turns reminders off (the orders service's cart API)."""


@dataclass(frozen=True)
class ReminderLine:
    """A cart line as the reminder shows it (the cart event has no line totals)."""

    line: CartLine
    line_total: Decimal


def skip_reason(event: CartAbandoned) -> str | None:
    """Why this event sends no reminder (None: it sends one). The orders service emits
    the event regardless; the opt-out and a missing address are the notifier's to honour."""
    if not event.email:
        return "no_email"
    if not event.reminders:
        return "opted_out"
    if not event.lines:
        return "empty_cart"
    return None


def render_reminder(
    envelope: Envelope, event: CartAbandoned, *, sender: str, domain: str
) -> list[Email]:
    """The reminder for one abandoned cart, to its owner; none when `skip_reason` says so."""
    if skip_reason(event) is not None or event.email is None:
        return []
    context = {
        "cart": event,
        "subject": SUBJECT,
        "lines": [ReminderLine(line, line.unit_price * line.quantity) for line in event.lines],
        "opt_out": OPT_OUT,
    }
    text = templates().get_template("cart_abandoned.txt").render(context)
    html = templates().get_template("cart_abandoned.html").render(context)
    delivery, mid, message = compose(
        envelope,
        event.email,
        subject=SUBJECT,
        text=text,
        html=html,
        sender=sender,
        domain=domain,
        headers={"X-Marcus-Cart-Id": str(event.cart_id)},
    )
    return [Email(delivery, event.email, mid, message, cart_id=event.cart_id)]
