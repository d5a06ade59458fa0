"""Service processes and throwaway databases for benchmarks, shared by every bench.

Services run as `python -m <service> serve` processes, as `make up` runs them, so a
benchmark measures the same code paths, event loops and process boundaries a user runs.
Every process is started in a session of its own and stopped by its process group.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis.asyncio as aioredis
from sqlalchemy.engine import make_url

from marcus_eventstore.migrations import libpq_dsn, upgrade

SECRET = "bench-services-secret-0123456789abcdef"
"""JWT secret of the services a bench starts (tokens: `marcus_web.auth.mint_token`)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sqlalchemy_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


@contextmanager
def fresh_database(server_url: str, services: tuple[str, ...], label: str) -> Iterator[str]:
    """A new database with the services' schemas migrated; dropped afterwards. Yields
    its SQLAlchemy URL (what the services' DATABASE_URL takes)."""
    name = f"bench_{label}_{uuid.uuid4().hex[:8]}"
    admin = libpq_dsn(sqlalchemy_url(server_url))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(sqlalchemy_url(server_url)).set(database=name)
    database_url = url.render_as_string(hide_password=False)
    try:
        for service in services:
            upgrade(service, database_url)
        yield database_url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def delete_keys(redis_url: str, prefix: str) -> None:
    redis = aioredis.from_url(redis_url)
    try:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


def service_env(database_url: str, redis_url: str, prefix: str, **extra: str) -> dict[str, str]:
    """Environment of a service process: the bench's database, Redis, stream prefix and
    Chroma namespace; everything else at the service's defaults unless `extra` says."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "STREAM_PREFIX": prefix,
        "INDEX_NAMESPACE": prefix,
        "JWT_SECRET": SECRET,
        "LOG_LEVEL": "warning",
        "HF_HUB_OFFLINE": "1",
        **extra,
    }


class ServiceProcess:
    """`python -m <package> serve --port <free port> [extra...]`, its output in a log file."""

    def __init__(
        self,
        package: str,
        env: dict[str, str],
        log_dir: Path,
        label: str,
        extra: Sequence[str] = (),
    ) -> None:
        self.package = package
        self.port = free_port()
        self.log = log_dir / f"{label}.log"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", package, "serve", "--port", str(self.port), *extra],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def wait_ready(self, within: float = 120.0) -> None:
        async def ready() -> bool:
            if self.proc.poll() is not None:
                tail = self.log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{self.package} exited ({self.proc.returncode}):\n{tail}")
            try:
                async with httpx.AsyncClient(timeout=2) as client:
                    return (await client.get(f"{self.url}/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await wait_until(ready, within, f"{self.package} on {self.url} ready")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


@contextmanager
def processes() -> Iterator[list[ServiceProcess]]:
    """A list to start service processes into; all stopped on the way out."""
    started: list[ServiceProcess] = []
    try:
        yield started
    finally:
        for proc in started:
            proc.stop()


async def wait_until(
    check: Callable[[], Awaitable[Any]], within: float, what: str, interval: float = 0.1
) -> Any:
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(interval)
