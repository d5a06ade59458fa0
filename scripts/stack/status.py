"""`make status`: whether the stack runs, each process's readiness and supervisord's
view of it (state, pid, uptime, restarts), then the event plumbing (scripts/status.py)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from scripts.stack.config import DEFAULT_REDIS_URL, HOST, setting
from scripts.stack.gateway import GATEWAY_DIR, GATEWAY_PORT
from scripts.stack.infrastructure import EMBEDDED_REDIS, redis_answers
from scripts.stack.probes import http_status, port_open
from scripts.stack.processes import read_state, running_state, stack_processes
from scripts.stack.procfile import Process, parse_procfile
from scripts.stack.supervisor import process_info, restarts


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
    if not redis_answers(redis_url) and redis_answers(EMBEDDED_REDIS.url):
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
