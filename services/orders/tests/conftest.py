"""Orders tests: the three services of the saga as processes, and a mail catcher."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.orders.tests.stack import MailCatcher, Shop, Stack, migrate, truncate


@pytest.fixture(scope="session")
def saga_database(database_url: str) -> str:
    migrate(database_url)
    return database_url


@pytest.fixture
async def stack(
    saga_database: str, redis_url: str, stream_prefix: str, tmp_path: Path
) -> AsyncIterator[Stack]:
    await truncate(saga_database)
    stack = Stack(saga_database, redis_url, stream_prefix, tmp_path)
    try:
        yield stack
    finally:
        stack.stop_all()


@pytest.fixture
async def mail(stack: Stack, tmp_path: Path) -> AsyncIterator[MailCatcher]:
    catcher = MailCatcher(tmp_path / "mail", stack.smtp_port)
    await catcher.start()
    try:
        yield catcher
    finally:
        await catcher.stop()


@pytest.fixture
async def shop(stack: Stack, mail: MailCatcher) -> AsyncIterator[Shop]:
    """catalog, orders and notifier running (one replica each), mail caught."""
    for service in ("catalog", "orders", "notifier"):
        stack.start(service)
    for process in stack.processes:
        await process.ready()
    shop = Shop(stack.first("catalog").url, stack.first("orders").url)
    try:
        yield shop
    finally:
        await shop.aclose()
