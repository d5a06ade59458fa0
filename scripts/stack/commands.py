"""The stack's commands (`python -m scripts.stack up|down|status|logs|migrate|test-env`)
and their command line."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid

from scripts import stack
from scripts.stack.config import (
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    LOG_DIR,
    LOG_FILE,
    PID_FILE,
    ROOT,
    StackError,
    child_env,
    setting,
    shown,
)
from scripts.stack.gateway import (
    GATEWAY_PORT,
    build_api_docs,
    check_gateway_config,
    gateway_command,
    render_gateway,
)
from scripts.stack.infrastructure import (
    check_redis,
    libpq_url,
    redact,
    resolve_infrastructure,
    stop_embedded,
)
from scripts.stack.migrations import migrate
from scripts.stack.probes import log_tail, port_open
from scripts.stack.processes import (
    boot_id,
    is_supervisor,
    proc_stat,
    read_state,
    running_state,
    stack_processes,
    stop,
)
from scripts.stack.procfile import PROCFILE, Process, parse_procfile, services
from scripts.stack.status import cmd_status
from scripts.stack.supervisor import SUPERVISOR_CONF, SUPERVISORD, supervisor_config, wait_ready
from scripts.stack.welcome import print_welcome


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
    leader = proc_stat(supervisord.pid)
    state = {
        "pid": supervisord.pid,
        "id": stack_id,
        "started": time.time(),
        "boot_id": boot_id(),
        "leader_start": leader[2] if leader else 0,
    }
    PID_FILE.write_text(json.dumps(state))

    print(
        f"Starting {', '.join(p.name for p in targets)} under supervisord"
        f" (logs: {shown(LOG_DIR)}/<name>.log)"
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


def cmd_down(_: argparse.Namespace) -> int:
    """Stop the stack and everything it started (embedded servers included)."""
    state = read_state()
    if state is None:
        print("The stack is not running.")
    elif not is_supervisor(state) and not stack_processes(state):
        PID_FILE.unlink(missing_ok=True)
        print("The stack is not running (removed a stale pid file).")
    else:
        stop(state)
    stop_embedded()
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    """Follow every process's log and supervisord's (or print their tails, --no-follow)."""
    logs = sorted(LOG_DIR.glob("*.log")) if LOG_DIR.exists() else []
    if not logs:
        print(f"No log yet ({shown(LOG_DIR)}): make up")
        return 1
    tail = shutil.which("tail")
    if args.no_follow or tail is None:
        for path in logs:
            print(f"==> {shown(path)} <==")
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
        url = libpq_url(setting("DATABASE_URL", DEFAULT_DATABASE_URL), database="postgres")[0]
        with contextlib.suppress(psycopg.Error):
            psycopg.connect(url, connect_timeout=2).close()
            print(f"export TEST_DATABASE_URL={shlex.quote(url)}")
            print(f"tests use the local PostgreSQL at {redact(url)}", file=sys.stderr)
    if not os.environ.get("TEST_REDIS_URL"):
        url = setting("REDIS_URL", DEFAULT_REDIS_URL)
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        with contextlib.suppress(redis.RedisError):
            client.ping()
            print(f"export TEST_REDIS_URL={shlex.quote(url)}")
            print(f"tests use the local Redis at {redact(url)}", file=sys.stderr)
        client.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.stack", description=(stack.__doc__ or "").split("\n")[0]
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
