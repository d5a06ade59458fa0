"""Applies order events to the `orders` / `order_lines` projections (live and rebuilds)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, delete, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from marcus_contracts import Envelope, registry
from marcus_contracts.events import orders as ev
from orders.storage.tables import PROJECTIONS, order_lines, orders

STATUS_OF = {
    ev.OrderPlaced.event_type: "pending",
    ev.OrderConfirmed.event_type: "confirmed",
    ev.OrderRejected.event_type: "rejected",
    ev.OrderCancelled.event_type: "cancelled",
    ev.OrderShipped.event_type: "shipped",
    ev.OrderDelivered.event_type: "delivered",
}


def _line_rows(event: Any) -> list[dict[str, Any]]:
    return [
        {
            "order_id": event.order_id,
            "line_no": number,
            "product_id": line.product_id,
            "sku": line.sku,
            "name": line.name,
            "unit_price": line.unit_price,
            "quantity": line.quantity,
            "line_total": line.line_total,
            "kind": line.kind,
            "base_product_id": line.base_product_id,
            "options": [option.model_dump(mode="json") for option in line.options],
        }
        for number, line in enumerate(event.lines, start=1)
    ]


async def _insert_lines(
    session: AsyncSession, event: Any, *, conflicts_ignored: bool = False
) -> None:
    """Every line in one multi-row INSERT: one statement, where an executemany runs one
    per line through SQLAlchemy and psycopg."""
    rows = _line_rows(event)
    if not rows:
        return
    statement = insert(order_lines).values(rows)
    if conflicts_ignored:
        statement = statement.on_conflict_do_nothing()
    await session.execute(statement)


async def _placed(session: AsyncSession, envelope: Envelope, event: Any) -> None:
    await session.execute(
        insert(orders)
        .values(
            id=event.order_id,
            customer=event.customer,
            email=event.email,
            status="pending",
            currency=event.currency,
            total=event.total,
            reasons=[],
            cart_id=event.cart_id,
            address=None if event.address is None else event.address.model_dump(mode="json"),
            version=envelope.sequence,
            created_at=envelope.time,
            updated_at=envelope.time,
        )
        .on_conflict_do_nothing()
    )
    await _insert_lines(session, event, conflicts_ignored=True)


async def _transition(session: AsyncSession, envelope: Envelope, event: Any) -> None:
    values: dict[str, Any] = {
        "status": STATUS_OF[envelope.type],
        "version": envelope.sequence,
        "updated_at": envelope.time,
    }
    if isinstance(event, ev.OrderRejected):
        values["reasons"] = [reason.model_dump(mode="json") for reason in event.reasons]
    confirmed = isinstance(event, ev.OrderConfirmed)
    if confirmed:  # the catalog's prices replace the estimate
        values["total"] = event.total
    statement = update(orders).where(orders.c.id == event.order_id).values(**values)
    if confirmed:
        # The old lines go in the same statement as the order's new state (a CTE); the
        # new lines come after it, in a statement that sees them gone.
        gone = delete(order_lines).where(order_lines.c.order_id == event.order_id)
        statement = statement.add_cte(gone.cte("old_lines"))
    await session.execute(statement)
    if confirmed:
        await _insert_lines(session, event)


class OrdersProjector:
    tables: Sequence[Table] = PROJECTIONS

    async def apply(self, session: AsyncSession, envelope: Envelope) -> None:
        if envelope.type not in STATUS_OF:
            return
        event = registry.decode(envelope)
        if envelope.type == ev.OrderPlaced.event_type:
            await _placed(session, envelope, event)
        else:
            await _transition(session, envelope, event)
