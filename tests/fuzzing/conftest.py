"""One stack of service processes for the whole fuzzing package (see stack.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fuzzing.stack import FuzzStack, fuzz_stack
from tests.support import gateway as gw
from tests.support import infra


@pytest.fixture(scope="package")
def api_docs() -> Iterator[Path | None]:
    """The API documents the gateway serves, built as `make up` builds them."""
    if gw.find_nginx() is None:
        yield None
        return
    with gw.built_api_docs("marcus-fuzz-docs-") as target:
        yield target


@pytest.fixture(scope="package")
def stack(postgres_server_url: str, redis_url: str, api_docs: Path | None) -> Iterator[FuzzStack]:
    """Its own database: what fuzzing writes is seen by no other suite."""
    with (
        infra.fresh_database(postgres_server_url) as database_url,
        fuzz_stack(database_url, redis_url, gw.find_nginx(), api_docs) as running,
    ):
        yield running


@pytest.fixture(scope="package")
def gateway(stack: FuzzStack) -> str:
    if stack.gateway is None:
        pytest.skip(gw.SKIP_REASON)
    return stack.gateway
