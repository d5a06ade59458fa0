"""Trimming streams without losing events (issue 19, finding 5).

`XADD ... MAXLEN ~ n` drops the oldest entries whatever the consumer groups still need:
entries a lagging group has not read yet, or still holds pending after a crash. Trimming
here is by `MINID` instead, and never above the **floor**: the lowest entry id any group
of the stream still needs (each group's oldest pending entry, else the entry after the
last one delivered to it). Below the floor every group has read and acknowledged every
entry.

- The relay (`STREAM_MAXLEN` > 0) trims the consumed entries of its stream once it holds
  more than that many entries (checked at most every `trim_interval` seconds): the stream
  may keep more than `STREAM_MAXLEN` entries while a group lags, never loses one it needs.
- Operators trim on demand with `make trim-streams` (`python -m marcus_eventstore.trim`):
  consumed entries of event streams older than a number of days, and dead letters older
  than a number of days (`dlq.*` streams have no group: they are read by people).

A stream without any group has no floor: nothing is known to be consumed, so it is not
trimmed (a service deployed later would have read it from the start).
"""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio as aioredis


def _id(value: Any) -> tuple[int, int]:
    text = value.decode() if isinstance(value, bytes) else str(value)
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def _text(entry_id: tuple[int, int]) -> str:
    return f"{entry_id[0]}-{entry_id[1]}"


async def consumed_floor(redis: aioredis.Redis, stream: str) -> str | None:
    """The lowest entry id a group of `stream` still needs; None when it has no group."""
    groups: list[dict[str, Any]] = await redis.xinfo_groups(stream)
    if not groups:
        return None
    floor: tuple[int, int] | None = None
    for group in groups:
        delivered = _id(group["last-delivered-id"])
        need = (delivered[0], delivered[1] + 1)
        if int(group["pending"]) > 0:
            summary = await redis.xpending(stream, group["name"])
            if summary["min"] is not None:
                need = min(need, _id(summary["min"]))
        floor = need if floor is None else min(floor, need)
    return None if floor is None else _text(floor)


def age_id(days: float, now: float | None = None) -> str:
    """The first entry id newer than `days` ago (stream ids start with a time in ms)."""
    now = time.time() if now is None else now
    return f"{int((now - days * 86400) * 1000)}-0"


async def trim_below(redis: aioredis.Redis, stream: str, minid: str) -> int:
    """XTRIM MINID: entries below `minid` go; returns how many (Redis's count)."""
    removed: int = await redis.xtrim(stream, minid=minid, approximate=False)
    return removed


async def trim_consumed(
    redis: aioredis.Redis, stream: str, *, older_than: str | None = None
) -> tuple[int, str | None]:
    """Trim what every group of `stream` has consumed (and, with `older_than`, only below
    that id too). Returns (entries removed, the MINID used or None)."""
    floor = await consumed_floor(redis, stream)
    if floor is None:
        return 0, None
    minid = floor if older_than is None else _text(min(_id(floor), _id(older_than)))
    return await trim_below(redis, stream, minid), minid


async def trim_if_longer(redis: aioredis.Redis, stream: str, maxlen: int) -> int:
    """The relay's trim: consumed entries only, once the stream is longer than `maxlen`."""
    if maxlen <= 0 or await redis.xlen(stream) <= maxlen:
        return 0
    removed, _ = await trim_consumed(redis, stream)
    return removed
