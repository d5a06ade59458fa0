"""The orders side of abandoned carts against real PostgreSQL: carts are filled through
the Cart aggregate and the orders unit of work (as the API does), then the job's event is
handled as the consumer handles it. The job judges idleness at its fire time, so the
tests fire it in the future instead of back-dating anything."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marcus_contracts.events.scheduler import CartRemindersRequested
from orders.cart import Cart, Item, cart_id_of
from orders.reminders import remind_idle_carts
from orders.storage.tables import carts, event_store
from orders.storage.uow import OrdersUnitOfWork
from tests.support.servers import wait_for

DAY = timedelta(days=1)


def _item(price: str = "12.50") -> Item:
    return Item(
        product_id=uuid4(),
        sku=f"SKU-{uuid4().hex[:6]}",
        name="Aero Clip-On Mini Pump",
        kind="simple",
        unit_price=Decimal(price),
        currency="EUR",
    )


async def _change(
    sessions: async_sessionmaker[AsyncSession],
    customer: str,
    *,
    email: str | None = "shopper@example.com",
    change: Any = None,
) -> None:
    """One customer command on their cart (adds a line unless `change` says otherwise)."""
    uow = OrdersUnitOfWork(sessions)
    async with uow:
        cart = await uow.repo.cart(cart_id_of(customer))
        if cart is None:
            cart = Cart.open(customer, email)
            uow.repo.add(cart)
        if change is None:
            cart.add(_item(), 2)
        else:
            change(cart)
        await uow.commit()


async def _run_job(
    sessions: async_sessionmaker[AsyncSession], fire_time: datetime
) -> tuple[int, int]:
    event = CartRemindersRequested(job="cart-reminders", fire_time=fire_time)
    outcome = await remind_idle_carts(event, OrdersUnitOfWork(sessions))
    return outcome.abandoned, outcome.expired


async def _events(sessions: async_sessionmaker[AsyncSession], event_type: str) -> list[Any]:
    events = event_store.events
    async with sessions() as session:
        query = select(events).where(events.c.type == event_type).order_by(events.c.position)
        return list(await session.execute(query))


async def _waiting_on_a_lock(sessions: async_sessionmaker[AsyncSession]) -> bool:
    """Another backend of this database is blocked on a row lock (the job's query)."""
    async with sessions() as session:
        waiting = await session.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND query LIKE '%orders.carts%'"
            )
        )
        return bool(waiting.scalar_one())


async def _activity(sessions: async_sessionmaker[AsyncSession]) -> dict[str, datetime]:
    async with sessions() as session:
        rows = await session.execute(select(carts.c.customer, carts.c.last_activity_at))
        return {row.customer: row.last_activity_at for row in rows}


async def test_an_idle_cart_is_reminded_once_per_idle_period(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _change(sessions, "alice")
    now = datetime.now(UTC)

    assert await _run_job(sessions, now + timedelta(hours=1)) == (0, 0), "not idle yet"
    assert await _run_job(sessions, now + DAY + timedelta(hours=1)) == (1, 0)
    assert await _run_job(sessions, now + DAY + timedelta(hours=2)) == (0, 0), "same period"

    [reminder] = await _events(sessions, "orders.cart.abandoned")
    assert reminder.subject == str(cart_id_of("alice"))
    assert reminder.envelope["data"]["email"] == "shopper@example.com"
    assert reminder.envelope["data"]["total"] == "25.00"
    assert [line["quantity"] for line in reminder.envelope["data"]["lines"]] == [2]

    # the customer comes back: a new idle period starts, and earns one more reminder
    await _change(sessions, "alice")
    later = datetime.now(UTC) + DAY + timedelta(hours=3)
    assert await _run_job(sessions, later) == (1, 0)
    assert len(await _events(sessions, "orders.cart.abandoned")) == 2


async def test_no_reminder_without_lines_address_or_consent(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _change(sessions, "no-address", email=None)
    await _change(sessions, "opted-out")
    await _change(sessions, "opted-out", change=lambda cart: cart.set_reminders(False))
    await _change(sessions, "emptied")
    await _change(sessions, "emptied", change=lambda cart: cart.clear())

    assert await _run_job(sessions, datetime.now(UTC) + 2 * DAY) == (0, 0)
    assert await _events(sessions, "orders.cart.abandoned") == []


async def test_a_cart_idle_thirty_days_is_cleared_by_an_event(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _change(sessions, "gone")
    await _change(sessions, "gone-quiet", change=None)
    await _change(sessions, "gone-quiet", change=lambda cart: cart.set_reminders(False))

    before = await _activity(sessions)
    assert await _run_job(sessions, datetime.now(UTC) + 31 * DAY) == (0, 2)

    cleared = await _events(sessions, "orders.cart.cleared")
    assert sorted(row.subject for row in cleared) == sorted(
        str(cart_id_of(customer)) for customer in ("gone", "gone-quiet")
    )
    assert {row.envelope["data"]["reason"] for row in cleared} == {"expired"}
    async with sessions() as session:
        lines = await session.execute(text("SELECT count(*) FROM orders.cart_lines"))
        assert lines.scalar_one() == 0
    assert await _activity(sessions) == before, "clearing is not the customer's activity"
    assert await _run_job(sessions, datetime.now(UTC) + 62 * DAY) == (0, 0), "nothing left"


async def test_the_job_waits_for_a_customer_who_holds_the_cart(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A cart the customer changes while the job runs is judged after that change: it is
    no longer idle, so it gets no reminder for the period that just ended."""
    await _change(sessions, "busy")
    fire_time = datetime.now(UTC) + DAY  # idle cutoff: between the two changes
    customer = OrdersUnitOfWork(sessions)
    async with customer:
        cart = await customer.repo.cart(cart_id_of("busy"))  # holds the row lock
        assert cart is not None
        job = asyncio.create_task(_run_job(sessions, fire_time))
        await wait_for(lambda: _waiting_on_a_lock(sessions), within=30, what="the job blocked")
        assert not job.done(), "the job must wait for the customer's transaction"
        cart.add(_item("3.00"), 1)
        await customer.commit()
    # the cart's last activity is now after the job's idle cutoff (fire time - 24 h)
    assert (await _activity(sessions))["busy"] > fire_time - DAY
    assert await job == (0, 0)
