"""Telling "PostgreSQL is unreachable" apart from "this event's handler failed".

A handler failure counts towards `max_deliveries` and ends in the dead-letter stream: the
event (or the handler's code) is at fault. A database outage is nobody's fault but the
infrastructure's, and counting it would move every event that arrives during a long
outage to the dead-letter stream. So failures are classified here, and while the
database is down the runtime holds entries pending instead of spending their deliveries:
the `DatabaseGate` goes down on the first such failure, nothing is claimed or run while
it is down, and a `SELECT 1` probe with capped exponential backoff reopens it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import psycopg
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from marcus_messaging import metrics

log = logging.getLogger("marcus.messaging")

PROBE_TIMEOUT_S = 5.0
STILL_DOWN_LOG_INTERVAL_S = 30.0
_MAX_CHAIN = 16

# SQLSTATEs meaning "the server cannot be used right now", not "this statement is wrong":
# connection exceptions, insufficient resources (too many connections, disk full), and
# the server shutting down or starting up. Deadlocks, serialization failures and query
# cancellations are deliberately absent: the event's own handler can cause them, and a
# handler that causes them every time must still reach the dead-letter stream.
_UNAVAILABLE_CLASSES = ("08", "53")
_UNAVAILABLE_STATES = frozenset({"57P01", "57P02", "57P03"})


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and what caused it (SQLAlchemy wraps the driver's error as `__cause__`)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(seen) < _MAX_CHAIN and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _driver_unavailable(exc: BaseException) -> bool:
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    # No SQLSTATE: the client failed (refused, reset, timed out) before a server answered.
    return state is None or state[:2] in _UNAVAILABLE_CLASSES or state in _UNAVAILABLE_STATES


def is_database_unavailable(exc: BaseException) -> bool:
    """True when the failure says the database could not be reached or used at all."""
    for error in _chain(exc):
        if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
            return True
        if isinstance(error, sa_exc.DisconnectionError | sa_exc.TimeoutError):
            return True  # pool: dead connection, or no connection within pool_timeout
        if _driver_unavailable(error):
            return True
    return False


def is_connection_error(exc: BaseException) -> bool:
    """An OS-level connection failure. Ambiguous: a handler calling some other service
    raises these too, so the caller asks the database itself (`DatabaseGate.probe`)."""
    return any(isinstance(error, ConnectionError | TimeoutError) for error in _chain(exc))


class DatabaseGate:
    """Open while PostgreSQL is reachable; closed from the first unavailability failure
    until a probe succeeds. Probes run at most every `retry_ms`, doubling to `retry_max_ms`,
    and only when someone asks (`available` / `wait_until_available`)."""

    def __init__(
        self, engine: AsyncEngine, *, group: str, retry_ms: int, retry_max_ms: int
    ) -> None:
        self._engine = engine
        self._group = group
        self._retry_s = retry_ms / 1000
        self._retry_max_s = retry_max_ms / 1000
        self._down_since: float | None = None
        self._logged = 0.0
        self._next_probe = 0.0
        self._interval = self._retry_s
        self._lock = asyncio.Lock()
        metrics.DATABASE_AVAILABLE.labels(group).set(1)

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def mark_down(self, exc: BaseException) -> None:
        """Record an unavailability failure; the first one closes the gate."""
        metrics.DATABASE_UNAVAILABLE.labels(self._group).inc()
        if self._down_since is not None:
            return
        self._down_since = self._logged = time.monotonic()
        self._interval = self._retry_s
        self._next_probe = self._down_since + self._interval
        metrics.DATABASE_AVAILABLE.labels(self._group).set(0)
        log.warning(
            "group %s: PostgreSQL unavailable (%s: %s); holding entries pending, "
            "not counting deliveries, probing every %.3gs up to %.3gs",
            self._group,
            type(exc).__name__,
            str(exc).splitlines()[0] if str(exc) else "",
            self._retry_s,
            self._retry_max_s,
        )

    async def available(self) -> bool:
        """Open? When closed and a probe is due, probe first. Cheap while open."""
        if self._down_since is None:
            return True
        if time.monotonic() < self._next_probe:
            return False
        async with self._lock:
            if self._down_since is None:
                return True
            if time.monotonic() < self._next_probe:
                return False
            if await self.probe():
                self._mark_up()
                return True
            now = time.monotonic()
            self._interval = min(self._interval * 2, self._retry_max_s)
            self._next_probe = now + self._interval
            if now - self._logged >= STILL_DOWN_LOG_INTERVAL_S:
                self._logged = now
                log.warning(
                    "group %s: PostgreSQL still unavailable after %.0fs; probing every %.3gs",
                    self._group,
                    now - self._down_since,
                    self._interval,
                )
            return False

    async def wait_until_available(self, stop: asyncio.Event) -> bool:
        """Block until the gate is open (True) or `stop` is set (False)."""
        while not await self.available():
            delay = max(self._next_probe - time.monotonic(), 0.01)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                return False
        return True

    async def probe(self) -> bool:
        """`SELECT 1` on a pooled connection, bounded so a black-holed host cannot hang us."""
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S), self._engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            log.debug("group %s: database probe failed: %s", self._group, exc)
            return False
        return True

    def _mark_up(self) -> None:
        assert self._down_since is not None
        log.warning(
            "group %s: PostgreSQL available again after %.1fs; resuming",
            self._group,
            time.monotonic() - self._down_since,
        )
        self._down_since = None
        metrics.DATABASE_AVAILABLE.labels(self._group).set(1)
