"""The whole stack as processes, on servers the suite owns so it may kill them.

PostgreSQL (pgserver's, a private data folder and port), Redis (AOF on, a free port),
Chroma and the SMTP catcher are processes of this suite, never the machine's shared
servers. The six services run as `python -m <service> serve`; the orders service and
the indexer reach Redis through a TCP proxy each, so the network between them and Redis
can be slowed down. The chat model is the OpenAI-compatible fake of the assistant tests.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from marcus_eventstore.migrations import upgrade
from scripts.embedded_servers import EmbeddedPostgres
from services.assistant.tests.fake_openai import FakeOpenAI, Recorded, Reply
from services.orders.tests.stack import Process
from tests.support.chroma import ChromaProcess
from tests.support.proxy import TcpProxy
from tests.support.servers import RedisProcess, free_port, wait_for

log = logging.getLogger("marcus.reliability")
SECRET = "reliability-secret-0123456789abcdef0123"
SERVICES = ("catalog", "orders", "assistant", "indexer", "scheduler", "notifier")
CONSUMERS = ("catalog", "orders", "assistant", "indexer", "notifier")
"""Services that read a stream with a consumer group (the scheduler only publishes)."""
PROXIED = ("orders", "indexer")
"""Services whose Redis connection goes through a TcpProxy (the slow-network fault)."""
DATABASE = "marcus_reliability"

FAST = {
    "LOG_LEVEL": "warning",
    "RELAY_POLL_INTERVAL": "0.2",
    "SAGA_BACKOFF_BASE_MS": "200",
    "SAGA_RECLAIM_MIN_IDLE_MS": "3000",
    "CONSUMER_BACKOFF_BASE_MS": "200",
    "CONSUMER_BACKOFF_MAX_MS": "1000",
    "CONSUMER_RECLAIM_MIN_IDLE_MS": "3000",
    "CONSUMER_MAX_DELIVERIES": "1000",
    "EMBEDDER": "hash",
    "ALIAS_REFRESH_INTERVAL": "1.0",
    "REBUILD_POLL_INTERVAL": "0.5",
}
"""Quick retries, so recovery is measured in seconds; deliveries are not capped low, so
an outage of a dependency never turns into a dead letter (only poison does)."""


def _chat_reply(_: Recorded) -> Reply:
    return Reply("Here is what I found for you.")


class EndlessModel(FakeOpenAI):
    """The fake model answering every request with a short text (no script to run out)."""

    def then_forever(self) -> None:
        self.then(*([_chat_reply] * 100_000))


@dataclass
class MailCatcherProcess:
    """`python -m scripts.mailcatcher serve`, the catcher a developer runs: SMTP down is
    this process gone; its folder (every SMTP transaction, duplicates included) stays."""

    folder: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.folder.parent / "mailcatcher.log").open("ab")
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "scripts.mailcatcher", "serve"),
                *("--port", str(self.port), "--dir", str(self.folder)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    async def ready(self) -> None:
        async def listening() -> bool:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                return False
            writer.close()
            return True

        await wait_for(listening, within=30, what="mail catcher listening")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None


@dataclass
class SupervisedService:
    """`python -m <service> serve` under a supervisord of its own, as `make up` runs it
    (scripts/stack/): when the process dies, supervisord starts it again, not the suite."""

    service: str
    port: int
    env: dict[str, str]
    folder: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.folder / "supervisor.sock"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "supervisord.conf"
        config.write_text(
            f"""[unix_http_server]
file={self.socket}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisord]
nodaemon=true
logfile={self.folder / "supervisord.log"}
pidfile={self.folder / "supervisord.pid"}

[program:{self.service}]
command={sys.executable} -m {self.service} serve --port {self.port}
autorestart=true
startsecs=3
startretries=10
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile={self.folder / f"{self.service}.log"}
"""
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "supervisor.supervisord", "-n", "-c", str(config)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def child_pid(self) -> int:
        """The service's pid as supervisord reports it (0 while it is not running)."""
        import xmlrpc.client

        from supervisor.xmlrpc import SupervisorTransport

        transport = SupervisorTransport(None, None, f"unix://{self.socket}")
        rpc = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)
        info = rpc.supervisor.getProcessInfo(self.service)
        return int(info["pid"]) if info["statename"] == "RUNNING" else 0

    async def ready(self, *, not_pid: int = 0, within: float = 300) -> None:
        """supervisord runs the service (another process than `not_pid`) and it is ready."""

        async def answers() -> bool:
            assert self.proc is not None and self.proc.poll() is None, "supervisord exited"
            try:
                pid = await asyncio.to_thread(self.child_pid)
                async with httpx.AsyncClient() as client:
                    ready = await client.get(f"http://127.0.0.1:{self.port}/readyz")
            except (OSError, httpx.TransportError):
                return False
            return pid not in (0, not_pid) and ready.status_code == 200

        await wait_for(answers, within=within, what=f"{self.service} under supervisord ready")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # supervisord stops its program, then exits
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


@dataclass
class ReliabilityStack:
    folder: Path
    prefix: str = field(default_factory=lambda: f"rel-{uuid.uuid4().hex[:8]}:")
    postgres: EmbeddedPostgres = field(init=False)
    redis: RedisProcess = field(init=False)
    chroma: ChromaProcess = field(init=False)
    mail: MailCatcherProcess = field(init=False)
    model: EndlessModel = field(default_factory=EndlessModel)
    proxies: dict[str, TcpProxy] = field(default_factory=dict)
    services: dict[str, Process] = field(default_factory=dict)
    supervised: dict[str, SupervisedService] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.postgres = EmbeddedPostgres(self.folder / "postgres", free_port())
        self.redis = RedisProcess(appendonly=True)
        self.chroma = ChromaProcess()
        self.mail = MailCatcherProcess(self.folder / "mail")

    @property
    def database_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.postgres.port}/{DATABASE}"

    @property
    def libpq_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.postgres.port}/{DATABASE}"

    def url(self, service: str) -> str:
        return self.services[service].url

    def env(self, service: str) -> dict[str, str]:
        redis_port = self.proxies[service].port if service in self.proxies else self.redis.port
        env = {
            **os.environ,
            **FAST,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "STREAM_PREFIX": self.prefix,
            "JWT_SECRET": SECRET,
            "SMTP_PORT": str(self.mail.port),
            "CHROMA_URL": self.chroma.url,
            "INDEX_NAMESPACE": self.prefix,
            "CHAT_BASE_URL": self.model.base_url,
            "CHAT_API_KEY": "reliability-key",
            "CHAT_MODEL": "fake-model",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "",
        }
        env.pop("OPENAI_API_KEY", None)
        return env

    async def start_servers(self) -> None:
        """PostgreSQL, Redis, Chroma, the catcher and the Redis proxies; then migrate."""
        started = time.monotonic()
        self.postgres.start()
        log.warning("postgres up after %.1fs", time.monotonic() - started)
        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{self.postgres.port}/postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
        for service in SERVICES:
            await asyncio.to_thread(upgrade, service, self.database_url)
        log.warning("migrated after %.1fs", time.monotonic() - started)
        self.redis.start()
        await asyncio.to_thread(self.chroma.start)
        log.warning("chroma up after %.1fs", time.monotonic() - started)
        self.mail.start()
        await self.mail.ready()
        for service in PROXIED:
            proxy = TcpProxy("127.0.0.1", self.redis.port)
            await proxy.up()
            self.proxies[service] = proxy

    async def start_services(self) -> None:
        started = time.monotonic()
        for service in SERVICES:
            process = Process(
                service, free_port(), self.env(service), self.folder / f"{service}.log"
            )
            process.start()
            self.services[service] = process
        for process in self.services.values():
            await process.ready(within=300)
        log.warning("services ready after %.1fs", time.monotonic() - started)

    async def restart_service(self, service: str) -> None:
        process = self.services[service]
        process.start()
        await process.ready(within=300)

    def restart_postgres(self) -> None:
        """Crash-stop (immediate: no checkpoint, WAL recovery on start) and start again."""
        self.postgres._run(
            "pg_ctl", "-D", str(self.postgres.data_dir), "-m", "immediate", "-w", "stop"
        )
        self.postgres.start()

    async def supervise(self, service: str) -> SupervisedService:
        """Hand `service` over to a supervisord (same port, same environment)."""
        process = self.services[service]
        process.stop()
        supervised = SupervisedService(
            service, process.port, self.env(service), self.folder / f"supervised-{service}"
        )
        supervised.start()
        self.supervised[service] = supervised
        await supervised.ready()
        return supervised

    async def unsupervise(self, service: str) -> None:
        """Back to the suite's own process (what the other faults kill and restart)."""
        self.supervised.pop(service).stop()
        await self.restart_service(service)

    async def close(self) -> None:
        for supervised in self.supervised.values():
            supervised.stop()
        for process in self.services.values():
            process.stop()
        for proxy in self.proxies.values():
            await proxy.down()
        self.mail.kill()
        self.chroma.remove()
        self.redis.stop()
        self.postgres.stop()
