"""The gateway as it runs in the stack: nginx (a real process, the template rendered by
scripts/stack.py as `make up` does) in front of the services started as processes
(`python -m <service> serve`), with a real Chroma, PostgreSQL and Redis.

The rate limits are set low (per minute) so that a handful of requests exceeds them
whatever the machine's speed: the tests never depend on timing.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from marcus_eventstore.migrations import upgrade
from marcus_web.auth import mint_token
from scripts import stack as stack_runner
from tests.support import stack
from tests.support.chroma import ChromaProcess
from tests.support.servers import free_port, wait_for

SECRET = "gateway-tests-secret-0123456789abcdef"
SERVICES = ("catalog", "orders", "assistant", "indexer", "scheduler")
RATES = {
    "GATEWAY_SEARCH_RATE": "1r/m",
    "GATEWAY_SEARCH_BURST": "5",
    "GATEWAY_CHAT_RATE": "1r/m",
    "GATEWAY_CHAT_BURST": "4",
}


def nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if not found:
        pytest.skip("nginx is not installed (apt-get install nginx-light); .ci/run installs it")
    return found


@dataclass
class Gateway:
    url: str
    prefix: str
    logs: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def log_lines(self, service: str) -> list[str]:
        return (self.logs / f"{service}.log").read_text().splitlines()


def token(subject: str, *roles: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(subject, list(roles), secret=SECRET)}"}


def start(command: list[str], log_path: Path, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """A process of its own session, its output in `log_path`."""
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


@pytest.fixture(scope="package")
def chroma_url() -> Iterator[str]:
    server = ChromaProcess()
    server.start()
    try:
        yield server.url
    finally:
        server.remove()


async def _ready(url: str) -> bool:
    try:
        async with httpx.AsyncClient() as client:
            return (await client.get(url)).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="package")
def api_docs() -> Iterator[Path]:
    """The API documents of this checkout, built as `make up` builds them."""
    from scripts import api_docs as builder

    target = Path(tempfile.mkdtemp(prefix="marcus-api-docs-"))
    target.chmod(0o755)  # nginx workers run as an unprivileged user when started by root
    assert builder.main(["build", "--dir", str(target)]) == 0
    try:
        yield target
    finally:
        shutil.rmtree(target, ignore_errors=True)


@pytest.fixture(scope="package")
async def gateway(
    database_url: str, redis_url: str, chroma_url: str, api_docs: Path
) -> AsyncIterator[Gateway]:
    nginx = nginx_binary()
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
            result.procs[name] = start(
                [sys.executable, "-m", name, "serve", "--port", str(port)],
                logs / f"{name}.log",
                env,
            )
        processes = [
            stack_runner.Process(name, f"python -m {name} serve", port, name)
            for name, port in ports.items()
        ]
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(stack_runner, "GATEWAY_DIR", logs / "nginx")
            patch.setattr(stack_runner, "GATEWAY_PORT", gateway_port)
            config = stack_runner.render_gateway(
                processes, overrides=RATES | {"GATEWAY_DOCS_ROOT": str(api_docs)}
            )
            command = [nginx, "-p", str(logs / "nginx"), "-e", "stderr", "-c", str(config)]
            checked = subprocess.run([*command, "-t", "-q"], capture_output=True, text=True)
            assert checked.returncode == 0, checked.stderr
        result.procs["gateway"] = start([*command, "-g", "daemon off;"], logs / "gateway.log")
        for name, port in ports.items():
            await wait_for(
                lambda port=port: _ready(f"http://127.0.0.1:{port}/readyz"),
                within=90,
                what=f"{name} ready",
            )
        await wait_for(
            lambda: _ready(f"{result.url}/gateway/healthz"), within=20, what="nginx ready"
        )
        yield result
    finally:
        for proc in result.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in result.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        shutil.rmtree(logs, ignore_errors=True)


@pytest.fixture
async def client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        yield http
