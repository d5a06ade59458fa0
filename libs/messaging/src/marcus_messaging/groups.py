"""Consumer-group creation and recovery.

Groups are created here, at id 0 with MKSTREAM, before anything subscribes: FastStream
would create them at `$` and silently skip every event already in the stream. When
Redis loses a stream or group (deleted key, restart without persistence), commands fail
with NOGROUP and the runtime calls `ensure_group` again; re-reading from 0 is safe
because the ledger drops what was already processed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

log = logging.getLogger("marcus.messaging")


async def ensure_group(redis: aioredis.Redis, stream: str, group: str) -> bool:
    """Create `group` on `stream` at id 0 (and the stream if missing); True if created."""
    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" in str(exc):
            return False
        raise
    log.info("created consumer group %s on %s at 0", group, stream)
    return True


def is_missing_group(exc: BaseException) -> bool:
    """NOGROUP, or the stream key vanished under a blocked read."""
    text = str(exc)
    return isinstance(exc, ResponseError) and (
        "NOGROUP" in text or "no such key" in text or "no longer exists" in text
    )


@dataclass(frozen=True)
class GroupState:
    pending: int
    """Delivered to a consumer, not acknowledged yet."""
    lag: int
    """In the stream, not yet delivered to the group."""


LAG_COUNT_LIMIT = 100_000
"""Redis 6.2 reports no `lag`: it is counted with XRANGE, up to this many entries."""


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def group_state(redis: aioredis.Redis, stream: str, group: str) -> GroupState | None:
    """Pending and lag of `group` on `stream` (None if the group does not exist).

    Redis 7 reports lag in XINFO GROUPS; Redis 6.2 (the embedded server of a bare
    machine) does not, so there it is the number of entries after the group's
    last-delivered id.
    """
    try:
        groups = await redis.xinfo_groups(stream)
    except ResponseError:  # no such stream
        return None
    for info in groups:
        if _text(info.get("name")) != group:
            continue
        pending = int(info.get("pending") or 0)
        lag = info.get("lag")
        if lag is not None:
            return GroupState(pending=pending, lag=int(lag))
        return GroupState(pending=pending, lag=await _count_after(redis, stream, info))
    return None


async def _count_after(redis: aioredis.Redis, stream: str, info: dict) -> int:
    start = f"({_text(info.get('last-delivered-id') or '0-0')}"
    counted = 0
    while counted < LAG_COUNT_LIMIT:
        entries = await redis.xrange(stream, min=start, max="+", count=1000)
        if not entries:
            break
        counted += len(entries)
        start = f"({_text(entries[-1][0])}"
    return counted
