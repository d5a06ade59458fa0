"""supervisord runs the stack's processes: its configuration (one program per process,
restarted when it exits; one that dies within `startsecs` of its start is retried with a
backoff growing by a second per attempt), its XML-RPC view of them, and the wait until
every process is up."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from typing import Any

from scripts.stack.config import DATA, HOST, LOG_DIR, LOG_FILE, ROOT, STOP_TIMEOUT
from scripts.stack.migrations import SERVICE_ENV
from scripts.stack.probes import is_ready
from scripts.stack.procfile import Process, procfile_env

SUPERVISOR_CONF = DATA / "supervisord.conf"
SUPERVISOR_SOCK = DATA / "supervisor.sock"
SUPERVISORD = (sys.executable, "-m", "supervisor.supervisord")
START_SECS = int(os.environ.get("STACK_START_SECS", "3"))
"""A process that dies sooner after its start is retried with a growing backoff."""
START_RETRIES = int(os.environ.get("STACK_START_RETRIES", "10"))
"""Quick deaths in a row before supervisord gives a process up (state FATAL)."""
READY_TIMEOUT = float(os.environ.get("STACK_READY_TIMEOUT", "90"))


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
    implied = procfile_env(processes)
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
        # Its own role and ACL user (bootstrap_ownership), and what the Procfile implies
        # for it (CHROMA_ALT_URL: the indexer and the assistant).
        own = SERVICE_ENV.get(str(p.package), {}) | implied.get(str(p.package), {})
        if own:
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
