"""Assistant test fixtures: a Chroma server, migrated schemas, clean tables per test,
the shop around the assistant (`store`, or `open_shop(**settings)` for other assistant
settings), and the local OpenAI-compatible fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from services.assistant.tests.fake_openai import FakeOpenAI, fake_openai
from services.assistant.tests.shop import OpenShop, Shop, migrate, shop, truncate
from tests.support import stack
from tests.support.chroma import chroma_fixture

chroma_url = chroma_fixture()


@pytest.fixture(scope="session")
def search_database(database_url: str) -> str:
    stack.migrate(database_url)
    migrate(database_url)
    return database_url


@pytest.fixture
async def clean_database(search_database: str) -> str:
    await truncate(search_database)
    return search_database


@pytest.fixture
async def llm() -> AsyncIterator[FakeOpenAI]:
    async with fake_openai() as fake:
        yield fake


@pytest.fixture
def open_shop(clean_database: str, redis_url: str, stream_prefix: str, chroma_url: str) -> OpenShop:
    """`async with open_shop(**settings) as s`: the shop on this test's database, streams
    and Chroma, the assistant with these settings (`chat_base_url=...`, `chat_enabled=False`)."""

    def opened(**settings: Any) -> AbstractAsyncContextManager[Shop]:
        return shop(clean_database, redis_url, stream_prefix, chroma_url, **settings)

    return opened


@pytest.fixture
async def store(open_shop: OpenShop, llm: FakeOpenAI) -> AsyncIterator[Shop]:
    """The shop, its assistant's model the local fake."""
    async with open_shop(chat_base_url=llm.base_url) as s:
        yield s
