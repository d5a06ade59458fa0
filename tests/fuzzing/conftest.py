"""One stack of service processes for the whole fuzzing package (see stack.py)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fuzzing.stack import FuzzStack, fuzz_stack
from tests.support import infra


def _nginx() -> str | None:
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


@pytest.fixture(scope="package")
def api_docs() -> Iterator[Path | None]:
    """The API documents the gateway serves, built as `make up` builds them."""
    if _nginx() is None:
        yield None
        return
    from scripts import api_docs as builder

    target = Path(tempfile.mkdtemp(prefix="marcus-fuzz-docs-"))
    target.chmod(0o755)  # nginx workers run as an unprivileged user when started by root
    assert builder.main(["build", "--dir", str(target)]) == 0
    try:
        yield target
    finally:
        shutil.rmtree(target, ignore_errors=True)


@pytest.fixture(scope="package")
def stack(postgres_server_url: str, redis_url: str, api_docs: Path | None) -> Iterator[FuzzStack]:
    """Its own database: what fuzzing writes is seen by no other suite."""
    with (
        infra.fresh_database(postgres_server_url) as database_url,
        fuzz_stack(database_url, redis_url, _nginx(), api_docs) as running,
    ):
        yield running


@pytest.fixture(scope="package")
def gateway(stack: FuzzStack) -> str:
    if stack.gateway is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light); .ci/run installs it")
    return stack.gateway
