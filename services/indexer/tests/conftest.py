"""Indexer test fixtures: a Chroma server, migrated schemas, clean tables per test."""

from __future__ import annotations

import pytest

from tests.support import stack
from tests.support.chroma import chroma_fixture

chroma_url = chroma_fixture()
chroma_alt_url = chroma_fixture()
"""A second Chroma server, the alternate one (ADR 0035); started only by tests using it."""


@pytest.fixture(scope="session")
def search_database(database_url: str) -> str:
    stack.migrate(database_url)
    return database_url


@pytest.fixture
async def clean_database(search_database: str) -> str:
    await stack.reset(search_database)
    return search_database
