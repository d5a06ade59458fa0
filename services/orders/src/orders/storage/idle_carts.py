"""Carts the abandoned-cart job must look at: idle with lines, locked for the job's
transaction so a customer's change waits (and a cart the customer touched meanwhile no
longer matches: PostgreSQL re-checks the condition on the locked row)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from orders.storage.tables import cart_lines, carts


@dataclass(frozen=True)
class IdleCart:
    cart_id: UUID
    idle_since: datetime
    """When its owner last changed it: the idle period's start."""


async def idle_carts(
    session: AsyncSession, *, idle_before: datetime, expire_before: datetime, limit: int
) -> list[IdleCart]:
    """Carts with lines, idle since before `idle_before`, that either are due a reminder
    (reminders on, an address known, none sent for this idle period) or idle since
    before `expire_before` (to be cleared); oldest first, at most `limit`, locked."""
    has_lines = exists().where(cart_lines.c.cart_id == carts.c.id)
    reminder_due = and_(
        carts.c.reminders.is_(True),
        carts.c.email.is_not(None),
        or_(carts.c.reminded_for.is_(None), carts.c.reminded_for < carts.c.last_activity_at),
    )
    query = (
        select(carts.c.id, carts.c.last_activity_at)
        .where(
            has_lines,
            carts.c.last_activity_at < idle_before,
            or_(reminder_due, carts.c.last_activity_at < expire_before),
        )
        .order_by(carts.c.last_activity_at)
        .limit(limit)
        .with_for_update(of=carts)
    )
    return [IdleCart(row.id, row.last_activity_at) for row in await session.execute(query)]
