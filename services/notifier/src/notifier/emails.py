"""Order e-mails: which events send one, to whom, and what it says (Jinja2 templates).
The message plumbing here (ids, headers, templates) serves `notifier.reminders` too.

Pure: an order event in, a message out. The Message-ID is derived from the delivery id
(source event id + recipient), so a resend of the same e-mail after a crash carries the
same Message-ID and a receiving server or mailbox can tell it is a copy.

Messages are written in their wire form directly (`wire_message`): printable ASCII
headers, a 7bit or base64 text and HTML part. Building an `EmailMessage` (its header
objects, `set_content`, `add_alternative`) and flattening it cost ~2.5 ms of CPU per
e-mail, more than the SMTP transaction; the direct form costs a few per cent of that.
A header that needs encoding or folding (non-ASCII, long) takes the `EmailMessage` path.
"""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, parseaddr
from typing import Any
from uuid import UUID

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from marcus_contracts import Envelope
from marcus_contracts.events import orders as ev
from notifier.smtp import Outgoing, WireMessage

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
    outgoing: Outgoing
    """What the mailer sends: the message in its wire form, or an `EmailMessage`."""
    order_id: UUID | None = None
    """What the e-mail is about, recorded on its delivery and in notifier.email.*."""
    cart_id: UUID | None = None

    @property
    def message(self) -> EmailMessage:
        """The message, parsed with `\\n` line ends as an `EmailMessage` holds it (tests,
        inspection)."""
        if isinstance(self.outgoing, EmailMessage):
            return self.outgoing
        data = self.outgoing.data.replace(b"\r\n", b"\n")
        return BytesParser(policy=policy.default).parsebytes(data)

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
) -> tuple[UUID, str, Outgoing]:
    """The message for one (source event, recipient): its delivery id, its Message-ID
    (derived from the delivery id, so a resend is recognisably the same e-mail)."""
    delivery = delivery_id(envelope.id, recipient)
    mid = message_id(delivery, domain)
    fields = [
        ("From", sender),
        ("To", recipient),
        ("Subject", subject),
        ("Message-ID", mid),
        ("Date", format_datetime(envelope.time)),
        ("X-Marcus-Event-Id", str(envelope.id)),
        ("X-Marcus-Event-Type", envelope.type),
        *headers.items(),
    ]
    wire = wire_message(fields, text, html, sender=sender, recipient=recipient)
    if wire is not None:
        return delivery, mid, wire
    message = EmailMessage()
    for name, value in fields:
        message[name] = value
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return delivery, mid, message


_PLAIN_HEADER = re.compile(r"[\x20-\x7e]*")
"""Printable ASCII: a header value written as it is (no encoded words, no CR/LF)."""
_LINES = re.compile(r"\r\n|\r|\n")
_MAX_HEADER_LINE = 78
"""Longer header lines are folded; `EmailMessage` does that."""
_MAX_7BIT_LINE = 998


def wire_message(
    fields: list[tuple[str, str]], text: str, html: str, *, sender: str, recipient: str
) -> WireMessage | None:
    """multipart/alternative (text, then HTML) in its wire form, CRLF line ends (the line
    break before a boundary belongs to the boundary, RFC 2046); None when a header needs
    encoding or folding (the caller builds an `EmailMessage`)."""
    for name, value in fields:
        if not _PLAIN_HEADER.fullmatch(value) or len(name) + 2 + len(value) > _MAX_HEADER_LINE:
            return None
    boundary = f"=_{uuid.uuid4().hex}"
    if boundary in text or boundary in html:
        return None
    head = "".join(f"{name}: {value}\r\n" for name, value in fields)
    data = (
        f"{head}MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n'
        f"\r\n--{boundary}\r\n{_text_part('plain', text)}"
        f"\r\n--{boundary}\r\n{_text_part('html', html)}"
        f"\r\n--{boundary}--\r\n"
    )
    return WireMessage(parseaddr(sender)[1], (recipient,), data.encode("ascii"))


def _text_part(subtype: str, body: str) -> str:
    """A text part as `set_content` writes one: 7bit when it is ASCII with short lines,
    else base64 of its UTF-8; ends with a line break."""
    lines = _LINES.split(body)
    if lines[-1] == "":
        lines.pop()
    head = f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
    if body.isascii() and all(len(line) <= _MAX_7BIT_LINE for line in lines):
        payload = "".join(f"{line}\r\n" for line in lines)
        return f"{head}Content-Transfer-Encoding: 7bit\r\n\r\n{payload}"
    encoded = base64.encodebytes("\n".join([*lines, ""]).encode()).decode("ascii")
    payload = encoded.replace("\n", "\r\n")
    return f"{head}Content-Transfer-Encoding: base64\r\n\r\n{payload}"


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
