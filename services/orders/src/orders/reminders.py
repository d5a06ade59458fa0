"""The orders side of abandoned carts, run when the scheduler's hourly
`scheduler.carts.reminders_requested` arrives (in the consumer's ledger transaction, so
one job run is handled once whatever the redeliveries).

A cart with lines that nobody changed for `idle_after_s` gets one `orders.cart.abandoned`
per idle period (the notifier e-mails its owner): the period is identified by when the
cart was last changed, which the projection keeps in `last_activity_at`, and the last
reminded period in `reminded_for`; the event's id is derived from the cart and that
moment, so even a second job run in the same period cannot remind twice. A cart idle for
`expire_after_s` is cleared (`orders.cart.cleared`, reason `expired`) instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from prometheus_client import Counter

from marcus_contracts.events.scheduler import CartRemindersRequested
from orders.domain import CENT
from orders.storage.idle_carts import idle_carts
from orders.storage.uow import OrdersUnitOfWork as UnitOfWork

log = logging.getLogger("orders.reminders")

BATCH = 500
"""Carts handled per job run; the rest wait for the next run (hourly by default)."""

CARTS_ABANDONED = Counter("orders_carts_abandoned_total", "Abandoned-cart reminders recorded")
CARTS_EXPIRED = Counter("orders_carts_expired_total", "Carts cleared after staying idle too long")


@dataclass(frozen=True)
class Reminded:
    abandoned: int
    expired: int


async def remind_idle_carts(event: CartRemindersRequested, uow: UnitOfWork) -> Reminded:
    """Judged at the job's fire time (not the clock), so a redelivered or late event
    decides exactly as the first delivery would have."""
    now = event.fire_time
    idle_before = now - timedelta(seconds=event.idle_after_s)
    expire_before = now - timedelta(seconds=event.expire_after_s)
    abandoned = expired = 0
    async with uow:
        due = await idle_carts(
            uow.session, idle_before=idle_before, expire_before=expire_before, limit=BATCH
        )
        for idle in due:
            cart = await uow.repo.cart(idle.cart_id, lock=True)
            if cart is None or not cart.lines:
                continue
            if idle.idle_since < expire_before:
                expired += cart.expire()
            elif cart.reminders and cart.email:
                total = sum((line.unit_price * line.quantity for line in cart.lines), Decimal("0"))
                cart.abandon(idle.idle_since, total.quantize(CENT))
                abandoned += 1
        await uow.commit()
    CARTS_ABANDONED.inc(abandoned)
    CARTS_EXPIRED.inc(expired)
    if abandoned or expired:
        log.info("cart reminders: %d abandoned cart(s) reminded, %d expired", abandoned, expired)
    return Reminded(abandoned, expired)
