"""The gateway as it runs in the stack: nginx (a real process, the template rendered by
scripts/stack/gateway.py as `make up` does) in front of the services started as processes
(`python -m <service> serve`), with a real Chroma, PostgreSQL and Redis.

The rate limits are set low (per minute) so that a handful of requests exceeds them
whatever the machine's speed: the tests never depend on timing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from marcus_eventstore.migrations import upgrade
from tests.support import gateway as gw
from tests.support import stack
from tests.support.auth import bearer
from tests.support.chroma import ChromaProcess
from tests.support.servers import free_port, stop_processes, wait_for

SECRET = "gateway-tests-secret-0123456789abcdef"
SERVICES = ("catalog", "orders", "assistant", "indexer", "scheduler")
RATES = gw.rates("1r/m", search_burst=5, chat_burst=4)


@dataclass
class Gateway:
    url: str
    prefix: str
    logs: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def log_lines(self, service: str) -> list[str]:
        return (self.logs / f"{service}.log").read_text().splitlines()


def token(subject: str, *roles: str) -> dict[str, str]:
    return bearer(subject, *roles, secret=SECRET)


@pytest.fixture(scope="package")
def chroma_url() -> Iterator[str]:
    server = ChromaProcess()
    server.start()
    try:
        yield server.url
    finally:
        server.remove()


@pytest.fixture(scope="package")
def api_docs() -> Iterator[Path]:
    """The API documents of this checkout, built as `make up` builds them."""
    with gw.built_api_docs("marcus-api-docs-") as target:
        yield target


@pytest.fixture(scope="package")
async def gateway(
    database_url: str, redis_url: str, chroma_url: str, api_docs: Path
) -> AsyncIterator[Gateway]:
    nginx = gw.nginx_binary()
    for service in SERVICES:
        upgrade(service, database_url)
    await stack.reset(database_url)  # one active search collection per database
    prefix = f"gw-{os.urandom(4).hex()}:"
    logs = Path(tempfile.mkdtemp(prefix="marcus-gateway-"))
    os.chmod(logs, 0o755)  # nginx workers (unprivileged when started by root) use its temp dirs
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "STREAM_PREFIX": prefix,
        "JWT_SECRET": SECRET,
        "CHROMA_URL": chroma_url,
        "INDEX_NAMESPACE": prefix.replace(":", "-"),
        "EMBEDDER": "hash",
        "RELAY_POLL_INTERVAL": "0.2",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "info",
    }
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    ports = {name: free_port() for name in SERVICES}
    gateway_port = free_port()
    result = Gateway(url=f"http://127.0.0.1:{gateway_port}", prefix=prefix, logs=logs)
    try:
        for name, port in ports.items():
            result.procs[name] = gw.start_service(name, port, logs, env)
        command = gw.gateway_command(nginx, logs, ports, gateway_port, api_docs, RATES)
        result.procs["gateway"] = gw.start_gateway(command, logs / "gateway.log")
        for name, port in ports.items():
            await wait_for(
                lambda port=port: gw.answers(f"http://127.0.0.1:{port}/readyz"),
                within=90,
                what=f"{name} ready",
            )
        await wait_for(
            lambda: gw.answers(f"{result.url}/gateway/healthz"), within=20, what="nginx ready"
        )
        yield result
    finally:
        stop_processes(result.procs.values())
        shutil.rmtree(logs, ignore_errors=True)


@pytest.fixture
async def client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        yield http
