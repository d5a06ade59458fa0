"""The whole stack for the access matrix: the six services as processes (real
PostgreSQL, Redis, Chroma and a mail catcher), nginx in front of them as `make up`
renders it, and a world of real resources (customer A's and B's orders and chat
sessions, a configurable product with its parts and rules, an index rebuild run) made
through the API before any cell of the matrix is sent.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from marcus_eventstore.migrations import upgrade
from services.orders.tests.stack import MailCatcher, Stack, truncate
from tests.access.world import SERVICES, Running, Tokens, World, build_world
from tests.support import gateway as gw
from tests.support import stack as search_stack
from tests.support.chroma import ChromaProcess
from tests.support.servers import free_port, wait_for

ROUTED = ("catalog", "orders", "assistant", "indexer", "scheduler", "notifier")
"""The services the gateway routes to (the notifier: its operations API only)."""

DOCS = Path(__file__).resolve().parents[2] / "deploy" / "gateway" / "docs"
# High enough that the matrix never meets the gateway's rate limits.
RATES = gw.rates("100r/s", search_burst=1000, chat_burst=1000)


@pytest.fixture(scope="package")
def access_folder() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="marcus-access-"))
    folder.chmod(0o755)  # nginx workers (unprivileged when started by root) use it
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="package")
async def running(database_url: str, redis_url: str, access_folder: Path) -> AsyncIterator[Running]:
    """Chroma starts beside the services (its port is known first): the assistant and
    the indexer are ready only once it answers."""
    nginx = gw.nginx_binary()
    chroma = ChromaProcess()
    chroma_started = asyncio.create_task(asyncio.to_thread(chroma.start))
    for service in SERVICES:
        upgrade(service, database_url)
    await truncate(database_url)
    await search_stack.reset(database_url)  # one active search collection per database
    await search_stack.empty_schema(database_url, "assistant")  # no other test's world
    prefix = f"access-{uuid.uuid4().hex[:8]}:"
    stack = Stack(database_url, redis_url, prefix, access_folder)
    mail = MailCatcher(access_folder / "mail", stack.smtp_port)
    await mail.start()
    extra = {
        "CHROMA_URL": chroma.url,
        "INDEX_NAMESPACE": prefix.replace(":", "-"),
        "EMBEDDER": "hash",
        "CHAT_ENABLED": "false",  # replies from search alone: no model in the tests
        "SCHEDULER_ENABLED": "false",  # no cron fire during the run; run-now still works
        "LOG_FORMAT": "text",
    }
    gateway: subprocess.Popen[bytes] | None = None
    engine = create_async_engine(database_url, pool_size=2)
    try:
        for service in SERVICES:
            stack.start(service, **extra)
        await chroma_started
        for process in stack.processes:
            try:
                await process.ready(within=300)  # a loaded machine: minutes
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{process.log.read_text()[-3000:]}") from None
        gateway_url, gateway = await _start_gateway(nginx, stack, access_folder)
        yield Running(
            services={p.service: p.url for p in stack.processes},
            gateway=gateway_url,
            engine=engine,
            mail=mail,
            redis_url=redis_url,
            prefix=prefix,
        )
    finally:
        if gateway is not None and gateway.poll() is None:
            os.killpg(gateway.pid, signal.SIGTERM)
            gateway.wait(15)
        for process in stack.processes:  # all at once: each takes seconds to drain
            if process.proc is not None and process.proc.poll() is None:
                process.proc.terminate()
        stack.stop_all()
        await mail.stop()
        await engine.dispose()
        await asyncio.gather(chroma_started, return_exceptions=True)
        chroma.remove()


async def _start_gateway(
    nginx: str, stack: Stack, folder: Path
) -> tuple[str, subprocess.Popen[bytes]]:
    """nginx with the template rendered as `make up` renders it, docs included."""
    docs = folder / "docs"
    shutil.copytree(DOCS, docs)
    for path in (docs, *docs.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    port = free_port()
    ports = {name: stack.first(name).port for name in ROUTED}
    command = gw.gateway_command(nginx, folder, ports, port, docs, RATES)
    proc = gw.start_gateway(command, folder / "gateway.log")
    url = f"http://127.0.0.1:{port}"
    await wait_for(lambda: gw.answers(f"{url}/gateway/healthz"), within=20, what="nginx ready")
    return url, proc


@pytest.fixture(scope="package")
def tokens() -> Tokens:
    return Tokens.mint(uuid.uuid4().hex[:8])


@pytest.fixture(scope="package")
async def world(running: Running, tokens: Tokens) -> World:
    return await build_world(running, tokens)
