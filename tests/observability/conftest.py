"""Observability tests: catalog, indexer and assistant in this process (so the
in-memory span exporter sees every span), a real Chroma server, real PostgreSQL/Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import stack
from tests.support.chroma import chroma_fixture
from tests.support.tracing import Spans, capture_spans

chroma_url = chroma_fixture()


@pytest.fixture(scope="session")
def search_database(database_url: str) -> str:
    stack.migrate(database_url)
    return database_url


@pytest.fixture
async def clean_database(search_database: str) -> str:
    await stack.reset(search_database)
    return search_database


@pytest.fixture
def spans() -> Iterator[Spans]:
    with capture_spans() as captured:
        yield captured
