"""Read side: orders as the API shows them (projections only, no aggregates)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orders.storage.tables import order_lines, orders


async def _with_lines(session: AsyncSession, rows: list[Any]) -> list[dict[str, Any]]:
    if not rows:
        return []
    lines: defaultdict[UUID, list[dict[str, Any]]] = defaultdict(list)
    query = (
        select(order_lines)
        .where(order_lines.c.order_id.in_([row.id for row in rows]))
        .order_by(order_lines.c.order_id, order_lines.c.line_no)
    )
    for line in await session.execute(query):
        lines[line.order_id].append(dict(line._mapping))
    return [dict(row._mapping) | {"lines": lines[row.id]} for row in rows]


_ORDER_COLUMNS = tuple(orders.c.keys())
_LINE_COLUMNS = tuple(order_lines.c.keys())


async def get_order(session: AsyncSession, order_id: UUID) -> dict[str, Any] | None:
    """One order with its lines, in one statement (the order's columns repeated on each
    line's row; the two tables share no column name)."""
    query = (
        select(orders, *order_lines.c)
        .outerjoin(order_lines, order_lines.c.order_id == orders.c.id)
        .where(orders.c.id == order_id)
        .order_by(order_lines.c.line_no)
    )
    return order_of_rows([row._mapping for row in await session.execute(query)])


def order_of_rows(rows: Sequence[Mapping[Any, Any]]) -> dict[str, Any] | None:
    """An order with its lines from rows of the order's columns joined to each line's
    (`line_no` None: no line), ordered by line number; None for no row."""
    if not rows:
        return None
    order = {name: rows[0][name] for name in _ORDER_COLUMNS}
    order["lines"] = [
        {name: row[name] for name in _LINE_COLUMNS} for row in rows if row["line_no"] is not None
    ]
    return order


async def list_orders(
    session: AsyncSession,
    customer: str,
    limit: int,
    before: UUID | None,
    *,
    statuses: Sequence[str] | None = None,
) -> tuple[list[dict[str, Any]], UUID | None]:
    """The customer's orders, newest first (ids are UUIDv7), keyset-paginated; only
    those in `statuses` when given."""
    query = select(orders).where(orders.c.customer == customer)
    if statuses:
        query = query.where(orders.c.status.in_(list(statuses)))
    if before is not None:
        query = query.where(orders.c.id < before)
    rows = list((await session.execute(query.order_by(orders.c.id.desc()).limit(limit + 1))).all())
    next_before = rows[limit - 1].id if len(rows) > limit else None
    return await _with_lines(session, rows[:limit]), next_before
