"""Assistant test fixtures: a Chroma server, migrated schemas, clean tables per test,
the shop around the assistant, and the local OpenAI-compatible fake."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.assistant.tests.fake_openai import FakeOpenAI, fake_openai
from services.assistant.tests.shop import migrate, truncate
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
