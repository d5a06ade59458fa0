"""Deliveries as the notifier's commands see them: the row of each delivery moves to its
outcome (its version counts the events recorded about it), and the `Delivery` aggregates
handed to `add` have their events appended by the unit of work.

The steps of a send that are not commands (begin an attempt, record the server's answer,
a retry) are in `notifier.deliveries`, in transactions of their own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import func, update

from marcus_eventstore import AggregateRepository
from notifier.storage.tables import deliveries


@dataclass(frozen=True)
class Outcome:
    """A delivery's state once its outcome is recorded."""

    version: int
    """The delivery's version before this outcome's event."""
    attempts: int


class DeliveryRepository(AggregateRepository):
    async def sent_outcome(self, delivery_id: UUID) -> Outcome | None:
        """Claim the outcome of a sent delivery, once: None when the delivery is not sent
        or its outcome was recorded already (a redelivered event)."""
        return await self._outcome(
            update(deliveries)
            .where(
                deliveries.c.id == delivery_id,
                deliveries.c.status == "sent",
                deliveries.c.outcome_recorded.is_(False),
            )
            .values(outcome_recorded=True, version=deliveries.c.version + 1)
        )

    async def given_up(self, delivery_id: UUID, error: str) -> Outcome:
        """The delivery is `failed`, with the last attempt's error."""
        outcome = await self._outcome(
            update(deliveries)
            .where(deliveries.c.id == delivery_id)
            .values(
                status="failed",
                last_error=error[:2000],
                updated_at=func.now(),
                version=deliveries.c.version + 1,
            )
        )
        assert outcome is not None, f"delivery {delivery_id} began before it failed"
        return outcome

    async def _outcome(self, statement: Any) -> Outcome | None:
        returning = statement.returning(deliveries.c.version, deliveries.c.attempts)
        row = (await self.session.execute(returning)).first()
        return None if row is None else Outcome(row.version - 1, row.attempts)
