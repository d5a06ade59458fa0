"""Notifier tests: a migrated schema, a notifier process, order and cart events put on the
stream directly (the notifier only reads `events.orders`), and the mail catcher."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from marcus_contracts import STREAM_FIELD, Envelope, StreamNames, new_event_id, registry
from marcus_contracts.events import cart as cart_ev
from marcus_contracts.events import orders as ev
from marcus_contracts.events.history import orders as order_history
from services.orders.tests.stack import MailCatcher, Stack, migrate, truncate


@pytest.fixture(scope="session")
def notifier_database(database_url: str) -> str:
    migrate(database_url)
    return database_url


@pytest.fixture
async def stack(
    notifier_database: str, redis_url: str, stream_prefix: str, tmp_path: Path
) -> AsyncIterator[Stack]:
    await truncate(notifier_database)
    stack = Stack(notifier_database, redis_url, stream_prefix, tmp_path)
    try:
        yield stack
    finally:
        stack.stop_all()


@pytest.fixture
def catcher(stack: Stack, tmp_path: Path) -> MailCatcher:
    """Not started: each test decides when SMTP is up."""
    return MailCatcher(tmp_path / "mail", stack.smtp_port)


def order_event(
    event_type: type[order_history._OrderSnapshotV1] = order_history.OrderConfirmedV1,
    *,
    email: str = "eve@example.com",
) -> Envelope:
    order_id = new_event_id()
    line = order_history.OrderLine(
        product_id=UUID(int=7),
        sku="TEA-1",
        name="Green tea",
        unit_price=Decimal("4.50"),
        quantity=2,
        line_total=Decimal("9.00"),
    )
    event = event_type(
        order_id=order_id,
        customer="eve",
        email=email,
        currency="EUR",
        lines=[line],
        total=Decimal("9.00"),
    )
    return registry.envelope(event, subject=str(order_id), sequence=2)


def cart_abandoned(
    *, email: str | None = "eve@example.com", reminders: bool = True, customer: str = "eve"
) -> Envelope:
    """An `orders.cart.abandoned` envelope as the orders service writes it: a simple
    line and a configured bike, idle since yesterday."""
    cart_id = new_event_id()
    tea = cart_ev.CartLine(
        line_id=UUID(int=1),
        product_id=UUID(int=7),
        sku="TEA-1",
        name="Green tea",
        quantity=3,
        unit_price=Decimal("4.50"),
        currency="EUR",
    )
    bike = cart_ev.CartLine(
        line_id=UUID(int=2),
        product_id=UUID(int=8),
        sku="BIKE",
        name="Trail bike",
        kind="configurable",
        options=[
            ev.LineOption(
                option_id=UUID(int=9), part="Frame", name="Full suspension", price=Decimal("130")
            )
        ],
        quantity=1,
        unit_price=Decimal("530.00"),
        currency="EUR",
    )
    event = cart_ev.CartAbandoned(
        cart_id=cart_id,
        customer=customer,
        email=email,
        lines=[tea, bike],
        reminders=reminders,
        idle_since=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
        total=Decimal("543.50"),
        currency="EUR",
    )
    return registry.envelope(event, subject=str(cart_id), sequence=3)


class Bus:
    def __init__(self, redis: aioredis.Redis, names: StreamNames) -> None:
        self.redis = redis
        self.names = names

    async def publish(self, envelope: Envelope) -> None:
        await self.redis.xadd(self.names.events("orders"), {STREAM_FIELD: envelope.to_json()})

    async def pending(self) -> int:
        try:
            info = await self.redis.xpending(self.names.events("orders"), "notifier")
        except aioredis.ResponseError:
            return 0
        return int(info["pending"])

    async def dead_letters(self) -> int:
        return int(await self.redis.xlen(self.names.dlq("notifier")))


@pytest.fixture
async def bus(redis_client: aioredis.Redis, stream_prefix: str) -> Bus:
    return Bus(redis_client, StreamNames(stream_prefix))


class Db:
    def __init__(self, url: str) -> None:
        self.engine = create_async_engine(url)

    async def rows(self, sql: str, **params: object) -> list:
        async with self.engine.connect() as conn:
            return list((await conn.execute(text(sql), params)).all())

    async def deliveries(self) -> list:
        return await self.rows("SELECT * FROM notifier.deliveries ORDER BY created_at")

    async def events(self, event_type: str) -> list:
        return await self.rows(
            "SELECT envelope FROM notifier.events WHERE type = :t ORDER BY position", t=event_type
        )


@pytest.fixture
async def db(notifier_database: str) -> AsyncIterator[Db]:
    db = Db(notifier_database)
    yield db
    await db.engine.dispose()
