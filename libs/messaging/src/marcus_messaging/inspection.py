"""What an operator asks of a consumer group (the admin API's `consumers`): per stream
the group reads, its lag and pending entries, its consumers and how long since each
read, and how old its oldest pending entry is.

Only reads that a service's own Redis user may make (ADR 0012): XINFO and XPENDING on
the streams it consumes, for its own group; and on its own stream, for every group
reading it (`readers_of`), so a consumer that is stopped still has its lag reported, by
the stream's owner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from marcus_messaging.groups import group_state


@dataclass(frozen=True)
class ConsumerInfo:
    name: str
    pending: int
    idle_ms: int
    """Since the consumer's last read or claim attempt."""


@dataclass(frozen=True)
class GroupReport:
    stream: str
    group: str
    exists: bool
    """False until the group is created (its service's consumer has not started yet)."""
    lag: int
    """Entries in the stream not yet delivered to the group."""
    pending: int
    """Delivered, not acknowledged: being handled, or waiting for a retry."""
    consumers: list[ConsumerInfo]
    oldest_pending_id: str | None
    oldest_pending_age_ms: int | None
    """How long ago the oldest pending entry was added to the stream."""
    oldest_pending_deliveries: int | None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def _now_ms(redis: aioredis.Redis) -> int:
    """Redis's clock, not this host's: entry ids carry the server's milliseconds."""
    seconds, micros = await redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


async def group_report(redis: aioredis.Redis, stream: str, group: str) -> GroupReport:
    state = await group_state(redis, stream, group)
    if state is None:
        return GroupReport(stream, group, False, 0, 0, [], None, None, None)
    try:
        consumers: Any = await redis.xinfo_consumers(stream, group)
        oldest: Any = await redis.xpending_range(stream, group, min="-", max="+", count=1)
    except ResponseError:  # the group vanished between the two reads
        return GroupReport(stream, group, False, 0, 0, [], None, None, None)
    infos = [ConsumerInfo(_text(c["name"]), int(c["pending"]), int(c["idle"])) for c in consumers]
    oldest_id = oldest_age = oldest_deliveries = None
    if oldest:
        oldest_id = _text(oldest[0]["message_id"])
        oldest_deliveries = int(oldest[0]["times_delivered"])
        oldest_age = max(await _now_ms(redis) - int(oldest_id.split("-", 1)[0]), 0)
    return GroupReport(
        stream=stream,
        group=group,
        exists=True,
        lag=state.lag,
        pending=state.pending,
        consumers=sorted(infos, key=lambda c: c.name),
        oldest_pending_id=oldest_id,
        oldest_pending_age_ms=oldest_age,
        oldest_pending_deliveries=oldest_deliveries,
    )


async def readers_of(redis: aioredis.Redis, stream: str) -> list[GroupReport]:
    """Every group reading `stream` (the caller's own), by name."""
    try:
        groups: Any = await redis.xinfo_groups(stream)
    except ResponseError:  # no such stream yet
        return []
    names = sorted(_text(info["name"]) for info in groups)
    return [await group_report(redis, stream, name) for name in names]


async def stream_length(redis: aioredis.Redis, stream: str) -> int:
    """XLEN (0 for a stream that does not exist: no dead letter yet)."""
    return int(await redis.xlen(stream))
