"""Events the notifier emits about e-mails (subject = delivery id, a UUIDv5 of the
source event id and the recipient, so one (event, recipient) is one aggregate).

`sent` follows an SMTP server's acceptance; `failed` follows the last of the bounded
attempts (the source event then goes to the notifier's dead-letter stream too).

What the e-mail was about: `order_id` for an order's e-mail, `cart_id` for an abandoned
cart's reminder (which has no order). Both came to be optional when reminders did, and
each is left out when None, so an order e-mail's event reads exactly as before.
"""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from marcus_contracts.base import Event


def _absent(value: object) -> bool:
    return value is None


class _DeliveryV1(Event):
    delivery_id: UUID
    source_event_id: UUID
    source_event_type: str
    order_id: UUID | None = Field(default=None, exclude_if=_absent)
    """The order the e-mail is about (None: not an order's e-mail). Left out when None."""
    cart_id: UUID | None = Field(default=None, exclude_if=_absent)
    """The cart a reminder is about (None: not a reminder). Left out when None."""
    recipient: str
    message_id: str
    """The deterministic Message-ID header (derived from the delivery id)."""
    attempts: int = Field(ge=1)


class EmailSentV1(_DeliveryV1):
    event_type = "notifier.email.sent"
    version = 1


class EmailFailedV1(_DeliveryV1):
    event_type = "notifier.email.failed"
    version = 1

    error: str


ALL = (EmailSentV1, EmailFailedV1)


# Unversioned names: the newest version of each event (see the package docstring).
EmailSent = EmailSentV1
EmailFailed = EmailFailedV1
