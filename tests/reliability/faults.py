"""The faults, each injected while the workload runs. `inject` returns when the fault is
over (the killed process answers again, the server is back, the delay is gone): the
recovery time of a round is measured from there until every invariant holds."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import redis.asyncio as aioredis

from marcus_contracts import STREAM_FIELD
from tests.reliability.stack import CONSUMERS, ReliabilityStack
from tests.reliability.workload import Book


@dataclass(frozen=True)
class Profile:
    name: str
    rounds: int
    workload_seconds: float
    outage_seconds: float
    settle_seconds: float = 180.0
    skipped: tuple[str, ...] = ()
    """Faults this profile leaves to the full one."""


PROFILES = {
    "ci": Profile(
        "ci",
        rounds=1,
        workload_seconds=8,
        outage_seconds=3,
        skipped=("SIGKILL catalog", "SIGKILL assistant", "SIGKILL indexer", "SIGKILL notifier"),
    ),
    "full": Profile("full", rounds=3, workload_seconds=16, outage_seconds=6),
}
"""`ci` must fit CI's time on a 2-core machine: a service restart costs the most (tens of
seconds under load), so it SIGKILLs the orders service only. The notifier's SIGKILL stays
in `full`: a kill between the SMTP server's 250 and the notifier's record of it resends
the e-mail with the same Message-ID (the one window SMTP leaves, see
notifier.deliveries), which this suite counts as a duplicate on purpose."""

Inject = Callable[[ReliabilityStack, Book, Profile], Awaitable[None]]


def _sigkill(service: str) -> Inject:
    async def inject(stack: ReliabilityStack, book: Book, profile: Profile) -> None:
        stack.services[service].kill()
        await asyncio.sleep(1)
        await stack.restart_service(service)

    return inject


async def _poison(stack: ReliabilityStack, book: Book, profile: Profile) -> None:
    """Into every stream some group reads: bad JSON, and JSON that is no envelope (its
    `sequence` and `data` missing); each group must park exactly these, once."""
    redis = aioredis.from_url(stack.redis.url)
    try:
        async for key in redis.scan_iter(match=f"{stack.prefix}events.*"):
            stream = key.decode()
            if not await redis.xinfo_groups(stream):
                continue
            not_an_envelope = {
                "specversion": "1.0",
                "id": str(uuid.uuid4()),
                "source": "reliability",
                "type": "catalog.product.updated",
                "subject": str(uuid.uuid4()),
                "time": "2026-01-01T00:00:00Z",
                "dataversion": 1,
            }
            for payload in (f"{{not json {uuid.uuid4()}", json.dumps(not_an_envelope)):
                await redis.xadd(stream, {STREAM_FIELD: payload})
                book.poison.setdefault(stream, []).append(payload.encode())
    finally:
        await redis.aclose()


async def _smtp_down(stack: ReliabilityStack, book: Book, profile: Profile) -> None:
    stack.mail.kill()
    await asyncio.sleep(profile.outage_seconds)
    stack.mail.start()
    await stack.mail.ready()


async def _redis_restart(stack: ReliabilityStack, book: Book, profile: Profile) -> None:
    """SIGKILL and start again at once: the AOF brings back streams, groups, pending."""
    stack.redis.stop()
    await asyncio.to_thread(stack.redis.start)


async def _redis_down(stack: ReliabilityStack, book: Book, profile: Profile) -> None:
    stack.redis.stop()
    await asyncio.sleep(profile.outage_seconds)
    await asyncio.to_thread(stack.redis.start)


async def _redis_frozen(stack: ReliabilityStack, book: Book, profile: Profile) -> None:
    """SIGSTOP of redis-server for the outage, then SIGCONT (issue 19, finding 6): the
    server stops answering without closing a connection, as on a stalled host, so only
    the clients' socket timeouts and health checks notice; nothing is reset."""
    assert stack.redis.proc is not None
    os.kill(stack.redis.proc.pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(profile.outage_seconds)
    finally:
        os.kill(stack.redis.proc.pid, signal.SIGCONT)


async def _supervisor_restart(stack: ReliabilityStack, book: Book, profile: Profile) -> None:
    """The orders service under supervisord, as `make up` runs it (issue 19, finding 7):
    SIGKILL, and supervisord starts it again on its own; the fault is over when the new
    process is ready. Then the suite takes the service back for the other faults."""
    supervised = await stack.supervise("orders")
    killed = await asyncio.to_thread(supervised.child_pid)
    os.kill(killed, signal.SIGKILL)
    await supervised.ready(not_pid=killed)
    await stack.unsupervise("orders")


async def _redis_slow(stack: ReliabilityStack, book: Book, profile: Profile) -> None:
    """250 ms on every chunk between the orders service / the indexer and Redis."""
    for proxy in stack.proxies.values():
        proxy.delay = 0.25
    await asyncio.sleep(profile.outage_seconds)
    for proxy in stack.proxies.values():
        proxy.delay = 0.0


async def _postgres_restart(stack: ReliabilityStack, book: Book, profile: Profile) -> None:
    await asyncio.to_thread(stack.restart_postgres)


async def _nothing(stack: ReliabilityStack, book: Book, profile: Profile) -> None:
    return None


FAULTS: dict[str, Inject] = {
    "none (control)": _nothing,
    **{f"SIGKILL {service}": _sigkill(service) for service in CONSUMERS},
    "poison events": _poison,
    "SMTP down": _smtp_down,
    "Redis slow (proxy delay)": _redis_slow,
    "Redis restart (AOF)": _redis_restart,
    "Redis down": _redis_down,
    "Redis frozen (SIGSTOP)": _redis_frozen,
    "PostgreSQL restart": _postgres_restart,
    "supervisor restart (SIGKILL orders under supervisord)": _supervisor_restart,
}
