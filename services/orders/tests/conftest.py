"""Orders tests: the three services of the saga as processes, and a mail catcher."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.orders.tests.stack import MailCatcher, Shop, Stack, stack_fixtures

saga_database, stack = stack_fixtures()


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
