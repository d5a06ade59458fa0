"""Notifier tests: a migrated schema and a notifier process (the orders suite's stack),
order and cart events (`events.py`) put on the stream directly (the notifier only reads
`events.orders`), and the mail catcher."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from marcus_contracts import STREAM_FIELD, Envelope, StreamNames
from services.orders.tests.stack import MailCatcher, Stack, stack_fixtures

saga_database, stack = stack_fixtures()


@pytest.fixture
def catcher(stack: Stack, tmp_path: Path) -> MailCatcher:
    """Not started: each test decides when SMTP is up."""
    return MailCatcher(tmp_path / "mail", stack.smtp_port)


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
async def db(saga_database: str) -> AsyncIterator[Db]:
    db = Db(saga_database)
    yield db
    await db.engine.dispose()
