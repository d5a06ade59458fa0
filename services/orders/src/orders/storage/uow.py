"""The orders unit of work: its event store, projectors and repository.

One unit of work may change an order and a cart together (a checkout places the order
and empties the cart; a rejected order gives its lines back to the cart): both
aggregates' events are appended and projected in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from marcus_contracts import Envelope
from marcus_eventstore import EventStore, UnitOfWork
from orders.storage import queries
from orders.storage.cart_projector import CartProjector
from orders.storage.carts import CartRepository
from orders.storage.projector import PLACED_VIEWS, OrdersProjector
from orders.storage.repository import Repository
from orders.storage.tables import PROJECTIONS, event_store


class OrdersRepository(Repository, CartRepository):
    """Orders, carts, the product read model and the idempotency keys."""


class ServiceProjector:
    """Orders and carts: each projector applies its own events (live and rebuilds)."""

    tables: Sequence[Table] = PROJECTIONS

    def __init__(self) -> None:
        self.parts = (OrdersProjector(), CartProjector())

    async def apply(self, session: AsyncSession, envelope: Envelope) -> None:
        for projector in self.parts:
            await projector.apply(session, envelope)


class OrdersUnitOfWork(UnitOfWork[OrdersRepository]):
    store = EventStore(event_store)
    projector = ServiceProjector()
    unique_messages = {
        "events_id_key": "this event was recorded already (a reminder for this idle period"
        " was sent)"
    }

    def make_repository(self, session: AsyncSession) -> OrdersRepository:
        return OrdersRepository(session)

    async def record(self) -> list[Envelope]:
        """Append and project; an order placed here is remembered as its projection's
        statement returned it, for `order_view`."""
        self.session.info.setdefault(PLACED_VIEWS, {})
        return await super().record()

    async def order_view(self, order_id: UUID) -> dict[str, Any] | None:
        """The order as the read side shows it, in this transaction (after `record()`:
        what the command wrote). An order this unit of work placed comes as its
        projection's INSERT returned it (no SELECT: one round trip less per placement)."""
        views: dict[UUID, dict[str, Any]] = self.session.info.get(PLACED_VIEWS, {})
        view = views.pop(order_id, None)
        if view is not None:
            return view
        return await queries.get_order(self.session, order_id)
