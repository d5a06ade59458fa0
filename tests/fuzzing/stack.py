"""The services as they run in production, for fuzzing: `python -m <service> serve`
processes on one fresh database with the sample catalog seeded through the API, a real
Chroma, the local OpenAI-compatible fake (on its own thread, so synchronous fuzz requests
never block it) and, when nginx is installed, the gateway in front of them.

Everything is synchronous: schemathesis sends its requests with `requests`, from the
test's own thread.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from marcus_eventstore.migrations import upgrade
from marcus_web.auth import mint_token
from scripts import seed
from services.assistant.tests.fake_openai import FakeOpenAI, Reply
from tests.support import gateway as gw
from tests.support.auth import bearer as _bearer
from tests.support.chroma import ChromaProcess
from tests.support.servers import free_port, stop_processes

SECRET = "fuzzing-tests-secret-0123456789abcdef"
SERVICES = ("catalog", "orders", "assistant", "indexer", "scheduler")
# High enough that fuzzing through the gateway is never rate limited (429 is the
# gateway's, tested in tests/gateway).
GATEWAY_RATES = gw.rates("1000r/s", search_burst=1000, chat_burst=1000)
MODEL_REPLY = "Here are a few products that fit."


def bearer(subject: str, *roles: str) -> dict[str, str]:
    return _bearer(subject, *roles, secret=SECRET)


@dataclass
class FuzzStack:
    database_url: str
    urls: dict[str, str]
    gateway: str | None
    logs: Path
    llm: FakeOpenAI
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def admin(self) -> dict[str, str]:
        return bearer("fuzz-admin", "admin")

    def count(self, sql: str) -> int:
        """One number from the stack's database (rows, events): what a refusal must not change."""
        return self.counts({"n": sql})["n"]

    def counts(self, queries: dict[str, str]) -> dict[str, int]:
        """Several numbers over one connection, closed afterwards (the server is shared)."""
        engine = create_engine(self.database_url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                return {
                    name: int(conn.execute(text(sql)).scalar_one()) for name, sql in queries.items()
                }
        finally:
            engine.dispose()


@contextmanager
def llm_server() -> Iterator[FakeOpenAI]:
    """The fake model on a uvicorn of its own thread; it answers every call with text."""
    fake = FakeOpenAI().then(*[Reply(MODEL_REPLY)] * 20_000)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(fake.app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="fake-openai", daemon=True)
    thread.start()
    _wait(lambda: server.started, 15, "the fake model")
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        server.should_exit = True
        thread.join(15)


def _wait(condition: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        time.sleep(0.1)


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def fuzz_stack(
    database_url: str, redis_url: str, nginx: str | None, docs: Path | None
) -> Iterator[FuzzStack]:
    for service in SERVICES:
        upgrade(service, database_url)
    prefix = f"fuzz-{os.urandom(4).hex()}:"
    logs = Path(tempfile.mkdtemp(prefix="marcus-fuzz-"))
    os.chmod(logs, 0o755)  # nginx workers (unprivileged when started by root) use its temp dirs
    chroma = ChromaProcess()
    chroma.start()
    with llm_server() as llm:
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "STREAM_PREFIX": prefix,
            "JWT_SECRET": SECRET,
            "CHROMA_URL": chroma.url,
            "INDEX_NAMESPACE": prefix.replace(":", "-"),
            "EMBEDDER": "hash",
            "CHAT_BASE_URL": llm.base_url,
            "CHAT_API_KEY": "fuzz-key",
            "RELAY_POLL_INTERVAL": "0.2",
            "DB_POOL_SIZE": "3",  # the PostgreSQL server is shared: few connections each
            "LOG_FORMAT": "text",
            "LOG_LEVEL": "warning",
        }
        env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
        ports = {name: free_port() for name in SERVICES}
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        result = FuzzStack(database_url, urls, None, logs, llm)
        try:
            for name, port in ports.items():
                result.procs[name] = gw.start_service(name, port, logs, env)
            if nginx and docs:
                gateway_port = free_port()
                command = gw.gateway_command(nginx, logs, ports, gateway_port, docs, GATEWAY_RATES)
                result.procs["gateway"] = gw.start_gateway(command, logs / "gw.log")
                result.gateway = f"http://127.0.0.1:{gateway_port}"
            for name, url in urls.items():
                _wait(lambda url=url: _ready(f"{url}/readyz"), 90, f"{name} ready")
            if result.gateway:
                _wait(lambda: _ready(f"{result.gateway}/gateway/healthz"), 20, "nginx ready")
            token = mint_token("seed-script", ["admin"], secret=SECRET)
            seeding = ["--url", urls["catalog"], "--orders-url", urls["orders"], "--token", token]
            # The seed mints the sample customer's token with the services' secret.
            before, os.environ["JWT_SECRET"] = os.environ.get("JWT_SECRET"), SECRET
            try:
                assert seed.main(seeding) == 0
            finally:
                if before is None:
                    os.environ.pop("JWT_SECRET")
                else:
                    os.environ["JWT_SECRET"] = before
            yield result
        finally:
            stop_processes(result.procs.values())
            chroma.remove()
