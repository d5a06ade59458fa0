"""The assistant's read model of orders, built from `orders.order.*` events.

Every order event carries the whole order (prices may still be missing on a placed
one), so one upsert per event keeps `customer_orders` current; the order's version (the
event's sequence) guards it, so a late or redelivered older event never overwrites a
newer state.

Purchases are counted once per order, whatever order the events arrive in:
`purchased_orders` is the order's switch. `confirmed` (or `shipped` or `delivered`,
which imply it) inserts it as `counted` and adds the lines, the co-purchase pairs and the units sold
(`product_sales`, on the day it was confirmed); `cancelled` turns a counted order into
`cancelled` and subtracts them again, or, arriving first, records `cancelled` so a late
`confirmed` counts nothing. The consumer's ledger makes each event count once; this
switch makes each order count once whatever events say it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import permutations
from typing import Any
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.storage.tables import (
    co_purchases,
    customer_orders,
    product_sales,
    purchase_lines,
    purchased_orders,
)
from marcus_contracts import Envelope
from marcus_contracts.events import orders as ev


async def upsert_order(
    session: AsyncSession, envelope: Envelope, event: ev.OrderEvent, status: ev.OrderStatus
) -> None:
    """The order as `event` shows it, in `status` (each event type means one)."""
    values: dict[str, Any] = {
        "customer": event.customer,
        "status": status,
        "currency": event.currency,
        "total": event.total,
        "lines": [line.model_dump(mode="json") for line in event.lines],
        "reasons": [r.model_dump(mode="json") for r in getattr(event, "reasons", [])],
        "version": envelope.sequence,
        "updated_at": envelope.time,
    }
    stmt = insert(customer_orders).values(
        order_id=event.order_id, placed_at=envelope.time, **values
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["order_id"],
            set_={**values, "placed_at": func.least(customer_orders.c.placed_at, envelope.time)},
            where=customer_orders.c.version < stmt.excluded.version,
        )
    )


def _pairs(event: ev.OrderEvent) -> list[tuple[UUID, UUID]]:
    products = sorted({line.product_id for line in event.lines})
    return list(permutations(products, 2))


async def _first_word(
    session: AsyncSession, envelope: Envelope, event: ev.OrderEvent, status: str
) -> bool:
    """Record the order's switch as `status` if nothing did before; True if this did."""
    inserted = await session.execute(
        insert(purchased_orders)
        .values(order_id=event.order_id, status=status, confirmed_at=envelope.time)
        .on_conflict_do_nothing(index_elements=["order_id"])
        .returning(purchased_orders.c.order_id)
    )
    return inserted.first() is not None


async def count_purchase(session: AsyncSession, envelope: Envelope, event: ev.OrderEvent) -> bool:
    """Count a confirmed order's lines and pairs, once; False if it was seen before."""
    if not await _first_word(session, envelope, event, "counted"):
        return False
    await session.execute(
        insert(purchase_lines),
        [
            {
                "order_id": event.order_id,
                "product_id": line.product_id,
                "sku": line.sku,
                "name": line.name,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "currency": event.currency,
            }
            for line in event.lines
        ],
    )
    await _add_pairs(session, _pairs(event), +1)
    await _add_sales(session, _units(event.lines), _day(envelope.time), +1)
    return True


async def uncount_purchase(session: AsyncSession, envelope: Envelope, event: ev.OrderEvent) -> bool:
    """Take a cancelled order out of the counts; True if it had been counted."""
    if await _first_word(session, envelope, event, "cancelled"):
        return False  # never counted; a late confirmed finds the row and counts nothing
    was_counted = (
        await session.execute(
            update(purchased_orders)
            .where(purchased_orders.c.order_id == event.order_id)
            .where(purchased_orders.c.status == "counted")
            .values(status="cancelled")
            .returning(purchased_orders.c.confirmed_at)
        )
    ).first()
    if was_counted is None:
        return False
    await _add_pairs(session, _pairs(event), -1)
    counted = await session.execute(
        select(purchase_lines.c.product_id, purchase_lines.c.quantity).where(
            purchase_lines.c.order_id == event.order_id
        )
    )
    await _add_sales(session, _units(counted), _day(was_counted.confirmed_at), -1)
    return True


def _day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _units(lines: Any) -> dict[UUID, int]:
    """Units per product of an order's lines."""
    units: dict[UUID, int] = {}
    for line in lines:
        units[line.product_id] = units.get(line.product_id, 0) + int(line.quantity)
    return units


async def _add_sales(session: AsyncSession, units: dict[UUID, int], day: date, sign: int) -> None:
    """Add (sign +1) or take back (-1) one order's units on the day it was confirmed."""
    if not units:
        return
    stmt = insert(product_sales).values(
        [
            {"product_id": pid, "day": day, "units": sign * n, "orders": sign}
            for pid, n in sorted(units.items())
        ]
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["product_id", "day"],
            set_={
                "units": product_sales.c.units + stmt.excluded.units,
                "orders": product_sales.c.orders + stmt.excluded.orders,
            },
        )
    )


async def _add_pairs(session: AsyncSession, pairs: list[tuple[UUID, UUID]], delta: int) -> None:
    if not pairs:
        return
    stmt = insert(co_purchases).values(
        [{"product_id": a, "other_id": b, "orders": max(delta, 0)} for a, b in pairs]
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["product_id", "other_id"],
            set_={"orders": co_purchases.c.orders + delta},
        )
    )


# ------------------------------------------------------------------------ queries


@dataclass(frozen=True)
class OrderSummary:
    order_id: UUID
    status: str
    currency: str
    total: Decimal | None
    lines: list[dict[str, Any]]
    reasons: list[dict[str, Any]]
    placed_at: datetime
    updated_at: datetime


def _summary(row: Any) -> OrderSummary:
    return OrderSummary(
        order_id=row.order_id,
        status=row.status,
        currency=row.currency,
        total=None if row.total is None else Decimal(row.total),
        lines=list(row.lines),
        reasons=list(row.reasons),
        placed_at=row.placed_at,
        updated_at=row.updated_at,
    )


async def orders_of(session: AsyncSession, customer: str, limit: int) -> list[OrderSummary]:
    """The customer's orders, newest first."""
    query = (
        select(customer_orders)
        .where(customer_orders.c.customer == customer)
        .order_by(customer_orders.c.placed_at.desc(), customer_orders.c.order_id.desc())
        .limit(limit)
    )
    return [_summary(row) for row in await session.execute(query)]


async def order_of(session: AsyncSession, customer: str, order_id: UUID) -> OrderSummary | None:
    """The order if it is this customer's; another customer's order is not found."""
    query = select(customer_orders).where(
        customer_orders.c.order_id == order_id, customer_orders.c.customer == customer
    )
    row = (await session.execute(query)).first()
    return None if row is None else _summary(row)


async def bought_together(
    session: AsyncSession, product_id: UUID, limit: int
) -> list[tuple[str, int]]:
    """(product id, orders containing both), most frequent first."""
    query = (
        select(co_purchases.c.other_id, co_purchases.c.orders)
        .where(co_purchases.c.product_id == product_id, co_purchases.c.orders > 0)
        .order_by(co_purchases.c.orders.desc(), co_purchases.c.other_id)
        .limit(limit)
    )
    return [(str(row.other_id), int(row.orders)) for row in await session.execute(query)]


POPULAR_DAYS = 30
"""Best sellers count the units of orders confirmed in this many days (today included)."""


async def popular(
    session: AsyncSession, limit: int, exclude: UUID | None = None, *, today: date | None = None
) -> list[tuple[str, int]]:
    """(product id, units sold in the last POPULAR_DAYS days), best first (then by
    orders, then id); from `product_sales`, so an order counts as soon as its
    confirmation is consumed."""
    since = (today or datetime.now(UTC).date()) - timedelta(days=POPULAR_DAYS - 1)
    units = func.sum(product_sales.c.units).label("units")
    orders = func.sum(product_sales.c.orders).label("orders")
    query = (
        select(product_sales.c.product_id, units)
        .where(product_sales.c.day >= since)
        .group_by(product_sales.c.product_id)
        .having(func.sum(product_sales.c.units) > 0)
        .order_by(units.desc(), orders.desc(), product_sales.c.product_id)
        .limit(limit)
    )
    if exclude is not None:
        query = query.where(product_sales.c.product_id != exclude)
    return [(str(row.product_id), int(row.units)) for row in await session.execute(query)]
