"""Applies order events to the `orders` / `order_lines` projections (live and rebuilds)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Executable,
    Table,
    Text,
    Update,
    bindparam,
    cast,
    column,
    delete,
    func,
    null,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, Insert, insert
from sqlalchemy.ext.asyncio import AsyncSession

from marcus_contracts import Envelope, registry
from marcus_contracts.events import orders as ev
from orders.storage import queries
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
    """The event's lines as `order_lines` rows, numbered from 1."""
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


_LINE_RECORDS = (
    func.jsonb_to_recordset(cast(bindparam("lines", type_=Text), JSONB))
    .table_valued(*(column(c.name, c.type) for c in order_lines.columns))
    .render_derived(name="line", with_types=True)
)
_LINE_NAMES = [c.name for c in order_lines.columns]


def _lines_insert(rows: list[dict[str, Any]]) -> Insert:
    """INSERT of the lines, read in PostgreSQL from one JSON array (one parameter).

    A multi-row `insert().values(rows)` has no cache key in SQLAlchemy: it was compiled
    anew for every placement and confirmation (its compilation and cache-key walk were
    the orders process's largest piece of Python in the profile). This statement's text
    never changes, so it compiles once, and psycopg prepares it once."""
    records = json.dumps(rows, default=str)  # UUIDs and Decimals as their text
    source = select(*_LINE_RECORDS.c).params(lines=records)
    return insert(order_lines).from_select(_LINE_NAMES, source)


PLACED_VIEWS = "orders.placed_views"
"""`session.info` key: a unit of work that answers with what it placed puts a dict
there; `_placed` fills it with order id -> the rows its statement inserted."""


async def _placed(session: AsyncSession, envelope: Envelope, event: Any) -> None:
    """The order's row and its lines in one statement, which also returns them: the
    placement's answer needs no SELECT of its own (`PLACED_VIEWS`). Both INSERTs are
    CTEs of the SELECT that joins what they returned (a data-modifying CTE runs to
    completion whether or not it is read); an order already there returns no row."""
    order = (
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
        .returning(*orders.c)
        .cte("placed_order")
    )
    rows = _line_rows(event)
    if rows:
        lines = _lines_insert(rows).on_conflict_do_nothing().returning(*order_lines.c).cte("lines")
        query = select(order, *lines.c).outerjoin(lines, true()).order_by(lines.c.line_no)
    else:
        query = select(order, *(null().label(name) for name in _LINE_NAMES))
    inserted = [row._mapping for row in await session.execute(query)]
    views = session.info.get(PLACED_VIEWS)
    if views is not None and inserted:
        views[event.order_id] = queries.order_of_rows(inserted)


async def _transition(session: AsyncSession, envelope: Envelope, event: Any) -> None:
    values: dict[str, Any] = {
        "status": STATUS_OF[envelope.type],
        "version": envelope.sequence,
        "updated_at": envelope.time,
    }
    if isinstance(event, ev.OrderRejected):
        values["reasons"] = [reason.model_dump(mode="json") for reason in event.reasons]
    if isinstance(event, ev.OrderConfirmed):  # the catalog's prices replace the estimate
        values["total"] = event.total
    statement = update(orders).where(orders.c.id == event.order_id).values(**values)
    if isinstance(event, ev.OrderConfirmed):
        await session.execute(_confirmed(statement, event))
    else:
        await session.execute(statement)


def _confirmed(order: Update, event: ev.OrderConfirmed) -> Executable:
    """A confirmation in one statement: the catalog's prices replace the lines'
    estimates. The lines are upserted by number (the order's update and the removal of
    any line past the new last one are CTEs of that INSERT), where deleting them all and
    inserting them again took a second statement: one statement cannot insert a row
    whose key a CTE of it deletes (both see the snapshot from before the statement)."""
    rows = _line_rows(event)
    surplus = delete(order_lines).where(
        order_lines.c.order_id == event.order_id, order_lines.c.line_no > len(rows)
    )
    if not rows:  # no line (never for a placed order): the update and the removal
        return order.add_cte(surplus.cte("old_lines"))
    lines = _lines_insert(rows)
    lines = lines.on_conflict_do_update(
        index_elements=[order_lines.c.order_id, order_lines.c.line_no],
        set_={name: lines.excluded[name] for name in _LINE_VALUES},
    )
    return lines.add_cte(order.cte("confirmed_order")).add_cte(surplus.cte("old_lines"))


_LINE_VALUES = tuple(column.name for column in order_lines.columns if not column.primary_key)
"""The columns an upserted line overwrites (all but its key)."""


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
