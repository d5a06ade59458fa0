"""Redis connections that notice a server that stopped answering (issue 19, finding 6).

redis-py waits forever by default: a Redis that is frozen (SIGSTOP, a full disk, a
network that drops packets without a reset) hangs every command on it, so the relay
stops in the middle of a batch while it holds its advisory lock and a consumer's
maintenance loop stops with it. Every client the services make comes from
`redis_options`:

- `socket_timeout`: a command gets no answer within this many seconds (plus the time a
  blocking read asks the server to wait) -> `TimeoutError`, which the relay and the
  consumers treat like any Redis outage: back off, reconnect, retry;
- `socket_connect_timeout`: the same for connecting;
- TCP keepalive (first probe after 30 s idle, then every 10 s, 3 probes) so a dead peer
  is noticed on idle connections too;
- `health_check_interval`: a connection idle for longer is PINGed before it is used.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis


@dataclass(frozen=True)
class RedisTimeouts:
    socket_timeout_s: float = 5.0
    connect_timeout_s: float = 5.0
    health_check_interval_s: float = 15.0


def _keepalive_options() -> dict[int, int]:
    options = {}
    for name, value in (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, name):  # Linux; macOS names some of them differently
            options[getattr(socket, name)] = value
    return options


def redis_options(timeouts: RedisTimeouts | None = None, *, blocking_ms: int = 0) -> dict[str, Any]:
    """Connection keywords for redis-py (and FastStream's broker). `blocking_ms`: the
    longest time a command on these connections asks the server to block (XREADGROUP
    BLOCK), added to the socket timeout."""
    t = timeouts or RedisTimeouts()
    return {
        "socket_timeout": t.socket_timeout_s + blocking_ms / 1000,
        "socket_connect_timeout": t.connect_timeout_s,
        "socket_keepalive": True,
        "socket_keepalive_options": _keepalive_options(),
        "health_check_interval": t.health_check_interval_s,
    }


def redis_client(url: str, timeouts: RedisTimeouts | None = None) -> aioredis.Redis:
    """A client for non-blocking commands, with `redis_options`."""
    return aioredis.from_url(url, **redis_options(timeouts))
