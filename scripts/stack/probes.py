"""Is a process there: /readyz for services, a TCP connect for the rest; and its log."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

from scripts.stack.config import HOST, LOG_DIR, LOG_FILE
from scripts.stack.procfile import Process


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
