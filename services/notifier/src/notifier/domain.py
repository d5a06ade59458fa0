"""The Delivery aggregate (subject = delivery id): records notifier.email.sent / failed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from marcus_contracts import Envelope
from marcus_contracts.events import notifier as ev
from marcus_eventstore import Aggregate
from notifier.emails import Email


@dataclass
class Delivery(Aggregate):
    source_event_id: UUID | None = None
    source_event_type: str = ""
    order_id: UUID | None = None
    cart_id: UUID | None = None
    recipient: str = ""
    message_id: str = ""

    @classmethod
    def of(cls, email: Email, source: Envelope, *, version: int) -> Delivery:
        """The delivery of `email`, sent for the event `source`, at `version`."""
        return cls(
            id=email.delivery_id,
            version=version,
            source_event_id=source.id,
            source_event_type=source.type,
            **email.about(),
        )

    def sent(self, attempts: int) -> None:
        self._record(ev.EmailSent(**self._facts(), attempts=attempts))

    def failed(self, attempts: int, error: str) -> None:
        self._record(ev.EmailFailed(**self._facts(), attempts=attempts, error=error[:2000]))

    def _facts(self) -> dict[str, Any]:
        return {
            "delivery_id": self.id,
            "source_event_id": self.source_event_id,
            "source_event_type": self.source_event_type,
            "order_id": self.order_id,
            "cart_id": self.cart_id,
            "recipient": self.recipient,
            "message_id": self.message_id,
        }
