"""The cart's storage against real PostgreSQL: the cart handlers through the orders unit
of work, with products in the read model as the consumer writes them. The projection
rebuilt from the events is the live one; a checkout is one transaction (order and cart);
concurrent first commands on a new cart apply one after the other."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
)

from marcus_contracts.events.orders import ShippingAddress
from marcus_eventstore import Conflict, rebuild_projections
from orders import handlers
from orders.cart import cart_id_of
from orders.storage.tables import cart_lines, carts, orders
from orders.storage.uow import OrdersUnitOfWork
from services.orders.tests.integration.conftest import into_read_model, simple_product

ADDRESS = ShippingAddress(
    name="Ada Lovelace", lines=["1 Main St"], city="Springfield", postal_code="12345", country="US"
)


async def _product(sessions: async_sessionmaker[AsyncSession], price: str, stock: int) -> Any:
    """A simple product in the read model, written as the consumer writes it."""
    event = simple_product(price=price, stock=stock)
    await into_read_model(sessions, event)
    return event


async def _rows(session: AsyncSession) -> tuple[list[Any], list[Any]]:
    cart_rows = (await session.execute(select(carts).order_by(carts.c.id))).all()
    line_rows = (
        await session.execute(
            select(cart_lines).order_by(cart_lines.c.cart_id, cart_lines.c.position)
        )
    ).all()
    return [tuple(r) for r in cart_rows], [tuple(r) for r in line_rows]


async def test_the_rebuilt_projection_is_the_live_one(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    pump = await _product(sessions, "12.50", 20)
    pedal = await _product(sessions, "30.00", 20)
    for customer in ("alice", "bob"):
        await handlers.add_line(
            handlers.AddLine(customer, pump.product_id, 2, email=f"{customer}@example.com"),
            OrdersUnitOfWork(sessions),
        )
    added = await handlers.add_line(
        handlers.AddLine("alice", pedal.product_id, 1), OrdersUnitOfWork(sessions)
    )
    await handlers.set_quantity("alice", added.line_id, 3, OrdersUnitOfWork(sessions))
    await handlers.set_reminders("bob", False, OrdersUnitOfWork(sessions))
    placed = await handlers.checkout(
        handlers.Checkout(
            customer="bob",
            email="bob@example.com",
            address=ADDRESS,
            expected_total=Decimal("25.00"),
        ),
        OrdersUnitOfWork(sessions),
    )

    async with sessions() as session:
        live = await _rows(session)
        order = (await session.execute(select(orders).where(orders.c.id == placed.order_id))).one()
    assert order.cart_id == cart_id_of("bob") and order.address["country"] == "US"
    alice, bob = sorted(live[0], key=lambda row: row[1])  # by customer
    assert (alice[1], alice[2], alice[3]) == ("alice", "alice@example.com", True)
    assert (bob[1], bob[3]) == ("bob", False)
    assert [(row[0], row[9]) for row in live[1]] == [
        (cart_id_of("alice"), 2),
        (cart_id_of("alice"), 3),
    ]

    await rebuild_projections(engine, OrdersUnitOfWork.store, OrdersUnitOfWork.projector)
    async with sessions() as session:
        assert await _rows(session) == live


async def test_concurrent_first_adds_to_a_new_cart_both_apply(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """No row to lock yet: the cart's id is locked instead, so neither add is lost and
    neither fails on the event sequence."""
    products = [await _product(sessions, "1.00", 50) for _ in range(4)]
    await asyncio.gather(
        *(
            handlers.add_line(
                handlers.AddLine("carol", p.product_id, 1), OrdersUnitOfWork(sessions)
            )
            for p in products
        )
    )
    async with sessions() as session:
        _, lines = await _rows(session)
        version = (
            await session.execute(select(carts.c.version).where(carts.c.customer == "carol"))
        ).scalar_one()
    assert len(lines) == 4 and version == 4


async def test_a_refused_checkout_changes_nothing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    pump = await _product(sessions, "12.50", 20)
    await handlers.add_line(handlers.AddLine("dan", pump.product_id, 2), OrdersUnitOfWork(sessions))
    async with sessions() as session:
        before = await _rows(session)
        events = (await session.execute(text("SELECT count(*) FROM orders.events"))).scalar_one()
    with pytest.raises(handlers.TotalChanged):
        await handlers.checkout(
            handlers.Checkout(
                customer="dan",
                email="dan@example.com",
                address=ADDRESS,
                expected_total=Decimal("20.00"),
                idempotency_key="key-1",
                request_hash="h",
            ),
            OrdersUnitOfWork(sessions),
        )
    async with sessions() as session:
        assert await _rows(session) == before
        assert (
            await session.execute(text("SELECT count(*) FROM orders.events"))
        ).scalar_one() == events
        keys = await session.execute(text("SELECT count(*) FROM orders.idempotency_keys"))
        assert keys.scalar_one() == 0


async def test_a_second_reminder_for_one_idle_period_is_refused_by_the_store(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    pump = await _product(sessions, "12.50", 20)
    await handlers.add_line(
        handlers.AddLine("erin", pump.product_id, 1, email="erin@example.com"),
        OrdersUnitOfWork(sessions),
    )
    async with sessions() as session:
        idle_since = (
            await session.execute(
                select(carts.c.last_activity_at).where(carts.c.customer == "erin")
            )
        ).scalar_one()

    async def remind() -> None:
        uow = OrdersUnitOfWork(sessions)
        async with uow:
            cart = await uow.repo.cart(cart_id_of("erin"))
            assert cart is not None
            cart.abandon(idle_since, Decimal("12.50"))
            await uow.commit()

    await remind()
    with pytest.raises(Conflict):
        await remind()
    async with sessions() as session:
        row = (await session.execute(select(carts).where(carts.c.customer == "erin"))).one()
        reminders = await session.execute(
            text("SELECT count(*) FROM orders.events WHERE type = 'orders.cart.abandoned'")
        )
    assert row.reminded_for == idle_since and row.last_activity_at == idle_since
    assert reminders.scalar_one() == 1
