"""Order e-mails: which events send one, to whom, and what it says (Jinja2 templates).
The message plumbing here (ids, headers, templates) serves `notifier.reminders` too.

Pure: an order event in, an `EmailMessage` out. The Message-ID is derived from the
delivery id (source event id + recipient), so a resend of the same e-mail after a crash
carries the same Message-ID and a receiving server or mailbox can tell it is a copy.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from uuid import UUID

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from marcus_contracts import Envelope
from marcus_contracts.events import orders as ev

DELIVERY_NAMESPACE = uuid.UUID("5d0b3c1e-6a51-4b7e-9f1c-2b8f4f3f6a10")

SUBJECTS: dict[str, str] = {
    ev.OrderConfirmed.event_type: "Your order is confirmed",
    ev.OrderRejected.event_type: "We could not accept your order",
    ev.OrderCancelled.event_type: "Your order is cancelled",
    ev.OrderShipped.event_type: "Your order has shipped",
}
EMAIL_EVENTS = tuple(SUBJECTS)
"""Order events that send an e-mail (placing an order does not: it is not final yet)."""


def money(amount: Decimal | None, currency: str) -> str:
    """None: a line the catalog has not priced (a configuration in a rejected order)."""
    if amount is None:
        return "(not priced)"
    return f"{currency} {Decimal(amount):,.2f}"


_environment = Environment(
    loader=PackageLoader("notifier", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)
_environment.filters["money"] = money


def delivery_id(event_id: UUID, recipient: str) -> UUID:
    """One (source event, recipient) is one delivery, whoever handles it, however often."""
    return uuid.uuid5(DELIVERY_NAMESPACE, f"{event_id}:{recipient.lower()}")


def message_id(delivery: UUID, domain: str) -> str:
    return f"<{delivery}@{domain}>"


@dataclass(frozen=True)
class Email:
    delivery_id: UUID
    recipient: str
    message_id: str
    message: EmailMessage
    order_id: UUID | None = None
    """What the e-mail is about, recorded on its delivery and in notifier.email.*."""
    cart_id: UUID | None = None

    def about(self) -> dict[str, Any]:
        """What a delivery records of its e-mail (its row and its events alike)."""
        return {
            "recipient": self.recipient,
            "order_id": self.order_id,
            "cart_id": self.cart_id,
            "message_id": self.message_id,
        }


def templates() -> Environment:
    return _environment


def compose(
    envelope: Envelope,
    recipient: str,
    *,
    subject: str,
    text: str,
    html: str,
    sender: str,
    domain: str,
    headers: dict[str, str],
) -> tuple[UUID, str, EmailMessage]:
    """The message for one (source event, recipient): its delivery id, its Message-ID
    (derived from the delivery id, so a resend is recognisably the same e-mail)."""
    delivery = delivery_id(envelope.id, recipient)
    mid = message_id(delivery, domain)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Message-ID"] = mid
    message["Date"] = format_datetime(envelope.time)
    message["X-Marcus-Event-Id"] = str(envelope.id)
    message["X-Marcus-Event-Type"] = envelope.type
    for name, value in headers.items():
        message[name] = value
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return delivery, mid, message


def order_reference(order_id: UUID) -> str:
    """The short reference a subject line carries: the last 8 hex digits. Order ids are
    UUIDv7, whose first digits are a timestamp shared by every order of the same minute;
    the last ones are random."""
    return str(order_id)[-8:]


def subject_for(event_type: str, order_id: UUID) -> str:
    return f"{SUBJECTS[event_type]} ({order_reference(order_id)})"


def recipients(event: Any) -> list[str]:
    """Who gets this event's e-mail: the contact address given with the order."""
    return [event.email]


def render(envelope: Envelope, event: Any, *, sender: str, domain: str) -> list[Email]:
    """The e-mails for one order event, one per recipient."""
    stem = envelope.type.split(".")[-1]
    context = {
        "order": event,
        "subject": SUBJECTS[envelope.type],
        "headline": SUBJECTS[envelope.type],
        "names": {line.product_id: line.name for line in event.lines},
        "address": getattr(event, "address", None),
    }
    text = _environment.get_template(f"order_{stem}.txt").render(context)
    html = _environment.get_template(f"order_{stem}.html").render(context)
    emails = []
    for recipient in recipients(event):
        delivery, mid, message = compose(
            envelope,
            recipient,
            subject=subject_for(envelope.type, event.order_id),
            text=text,
            html=html,
            sender=sender,
            domain=domain,
            headers={"X-Marcus-Order-Id": str(event.order_id)},
        )
        emails.append(Email(delivery, recipient, mid, message, order_id=event.order_id))
    return emails
