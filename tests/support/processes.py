"""Services as processes for end-to-end tests: `python -m <service> serve --port <p>`,
as `make up` runs them, each in a session of its own (stopped with its children), its
output in a log file whose tail explains a failed start.

One copy of what suites used to write each for themselves (a Popen, a /readyz poll,
SIGTERM then SIGKILL). The environment names the test run's database, Redis and stream
prefix; `extra` overrides any setting.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.auth import SECRET
from tests.support.servers import free_port, wait_for

FAST_CONSUMERS = {
    "RELAY_POLL_INTERVAL": "0.2",
    "CONSUMER_BACKOFF_BASE_MS": "200",
    "CONSUMER_BACKOFF_MAX_MS": "1000",
    "CONSUMER_RECLAIM_MIN_IDLE_MS": "3000",
}
"""Settings that make a process's relay and consumers react in test time, not prod time."""


def service_env(
    database_url: str,
    redis_url: str,
    prefix: str,
    *,
    secret: str = SECRET,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A service process's environment: this run's database, Redis, stream prefix (and
    Chroma namespace), the tests' JWT secret, quiet logs, no model downloads."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "STREAM_PREFIX": prefix,
        "INDEX_NAMESPACE": prefix,
        "JWT_SECRET": secret,
        "LOG_LEVEL": "warning",
        "HF_HUB_OFFLINE": "1",
        **(extra or {}),
    }


@dataclass
class ServiceProcess:
    """One `python -m <service> serve` process; `start()` it, `await ready()`, `stop()`."""

    service: str
    env: Mapping[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    args: Sequence[str] = ()
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServiceProcess:
        command = [sys.executable, "-m", self.service, "serve", "--port", str(self.port)]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [*command, *self.args],
                env=dict(self.env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    async def ready(self, within: float = 120.0) -> None:
        """Until `/readyz` answers 200; a process that exits fails with its log's tail."""
        import httpx

        async def answers() -> bool:
            assert self.proc is not None, f"{self.service} was not started"
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"{self.service} exited ({self.proc.returncode}):\n{self.log_tail()}"
                )
            try:
                async with httpx.AsyncClient(timeout=2) as client:
                    return (await client.get(f"{self.url}/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await wait_for(answers, within=within, interval=0.1, what=f"{self.service} ready")

    def kill(self) -> None:
        """SIGKILL to the process group: no shutdown code runs (no ack, no commit)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM (the service drains), SIGKILL if it has not exited after `grace`."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def stop_all(processes: Sequence[ServiceProcess], grace: float = 15.0) -> None:
    """SIGTERM to every process at once (each drains for seconds), then wait for each."""
    running = [p for p in processes if p.proc is not None and p.proc.poll() is None]
    for process in running:
        assert process.proc is not None
        os.killpg(process.proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in running:
        assert process.proc is not None
        try:
            process.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.proc.pid, signal.SIGKILL)
            process.proc.wait(5)
