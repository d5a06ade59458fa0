"""Pending orders nobody answered: reported, and their placed event published again.

The saga must not leave an order pending silently. If the catalog never answers (its
group lost the entry, the entry went to its dead-letter stream, the stream was lost),
this periodic task notices orders pending longer than `pending_timeout_s`, counts them in
the `orders_pending_stuck` gauge, and queues their `orders.order.placed` event in the
outbox again (same event id: a catalog that did handle it skips the copy, one that did
not reserves now). Each order is re-published at most once per timeout. With several
replicas, a transaction-scoped advisory lock lets one of them do each round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from uuid import UUID

from fastapi import FastAPI
from prometheus_client import Counter, Gauge
from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marcus_contracts.events.orders import OrderPlaced
from marcus_eventstore import advisory_key
from orders.settings import OrdersSettings
from orders.storage.tables import event_store, orders, placement_retries
from orders.storage.uow import OrdersUnitOfWork

log = logging.getLogger("orders.stuck")

PENDING_STUCK = Gauge(
    "orders_pending_stuck", "Orders pending longer than PENDING_TIMEOUT_S (no saga answer)"
)
REPUBLISHED = Counter(
    "orders_placed_republished_total", "Placed events published again for stuck orders"
)
LOCK = advisory_key("orders-stuck-check")
BATCH = 500


async def check_once(session: AsyncSession, older_than: timedelta) -> tuple[int, int]:
    """One round in the caller's transaction: (stuck orders, placed events re-queued)."""
    got_lock = (
        await session.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": LOCK})
    ).scalar_one()
    if not got_lock:
        return -1, 0
    cutoff = func.now() - older_than
    stuck = (
        await session.execute(
            select(func.count())
            .select_from(orders)
            .where(orders.c.status == "pending", orders.c.created_at < cutoff)
        )
    ).scalar_one()
    due = (
        select(orders.c.id)
        .outerjoin(placement_retries, placement_retries.c.order_id == orders.c.id)
        .where(
            orders.c.status == "pending",
            orders.c.created_at < cutoff,
            or_(placement_retries.c.last_at.is_(None), placement_retries.c.last_at < cutoff),
        )
        .order_by(orders.c.created_at)
        .limit(BATCH)
    )
    order_ids: list[UUID] = list((await session.execute(due)).scalars())
    if not order_ids:
        return int(stuck), 0
    events = event_store.events
    placed_ids = list(
        (
            await session.execute(
                select(events.c.id).where(
                    and_(
                        events.c.subject.in_([str(order_id) for order_id in order_ids]),
                        events.c.type == OrderPlaced.event_type,
                    )
                )
            )
        ).scalars()
    )
    queued = await OrdersUnitOfWork.store.requeue(session, placed_ids)
    statement = insert(placement_retries).values(
        [{"order_id": order_id, "attempts": 1, "last_at": func.now()} for order_id in order_ids]
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["order_id"],
            set_={"attempts": placement_retries.c.attempts + 1, "last_at": func.now()},
        )
    )
    return int(stuck), queued


async def run_stuck_check(app: FastAPI, stop: asyncio.Event) -> None:
    """Background task of the orders app."""
    settings: OrdersSettings = app.state.settings
    sessions: async_sessionmaker[AsyncSession] = app.state.sessions
    timeout = timedelta(seconds=settings.pending_timeout_s)
    while not stop.is_set():
        try:
            async with sessions.begin() as session:
                stuck, queued = await check_once(session, timeout)
            if stuck >= 0:
                PENDING_STUCK.set(stuck)
            if queued:
                REPUBLISHED.inc(queued)
                log.warning(
                    "%d order(s) pending longer than %.0fs: re-published %d placed event(s)",
                    stuck,
                    settings.pending_timeout_s,
                    queued,
                )
        except Exception as exc:  # the database may be down: try again next round
            log.warning("stuck-order check failed: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.pending_check_interval_s)
