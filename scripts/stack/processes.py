"""Which processes belong to the stack, and stopping them all.

supervisord gives each process a process group of its own, so `down` does not rely on
one: it collects supervisord's session, the pids supervisord reports in its log
("spawned: '<name>' with pid N") and every process carrying this stack's MARCUS_STACK_ID
environment marker, and signals all of them. The pid file records supervisord's pid with
its start time and the boot id, so a reused pid is never taken for it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from scripts.stack.config import LOG_FILE, MARKER, PID_FILE, STOP_TIMEOUT, StackError


def proc_stat(pid: int) -> tuple[int, int, int] | None:
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


def boot_id() -> str:
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


def is_supervisor(state: dict[str, object]) -> bool:
    """Whether the state's supervisord still runs (same boot, same process, not a reused pid)."""
    pid = int(str(state["pid"]))
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    info = proc_stat(pid)
    return (
        b"supervisord" in cmdline
        and info is not None
        and state.get("boot_id") == boot_id()
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
    if state.get("boot_id") != boot_id():
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
        info = proc_stat(pid)
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
    if state is not None and is_supervisor(state):
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
