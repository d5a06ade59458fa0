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
- The scheduler's `stream-retention` job applies each stream's retention policy
  (`STREAM_RETENTION`, `marcus_eventstore.retention`) every few minutes, through the same
  floor; operators see the same numbers with `make trim-streams` (`scripts/streams.py`).
  Dead-letter streams (`dlq.*`) have no group: people read them, so age and length apply
  to them directly.

A stream without any group has no floor: nothing is known to be consumed, so it is not
trimmed (a service deployed later would have read it from the start).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import redis.asyncio as aioredis


def _id(value: Any) -> tuple[int, int]:
    text = value.decode() if isinstance(value, bytes) else str(value)
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def _text(entry_id: tuple[int, int]) -> str:
    return f"{entry_id[0]}-{entry_id[1]}"


def _str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def id_key(entry_id: str) -> tuple[int, int]:
    """A stream id as a sortable pair (`1700000000000-3` -> (1700000000000, 3))."""
    return _id(entry_id)


@dataclass(frozen=True)
class Floor:
    """The lowest entry id a group still needs, and which group needs it and why."""

    id: str
    group: str
    reason: Literal["pending", "undelivered"]
    """pending: delivered, not acknowledged; undelivered: not read by the group yet."""

    def describe(self) -> str:
        if self.reason == "pending":
            return f"group {self.group} pending since {self.id}"
        return f"group {self.group} undelivered since {self.id}"


async def group_floor(redis: aioredis.Redis, stream: str) -> Floor | None:
    """The lowest entry id a group of `stream` still needs; None when it has no group."""
    groups: list[dict[str, Any]] = await redis.xinfo_groups(stream)
    floor: Floor | None = None
    for group in groups:
        delivered = _id(group["last-delivered-id"])
        need = Floor(_text((delivered[0], delivered[1] + 1)), _str(group["name"]), "undelivered")
        if int(group["pending"]) > 0:
            summary = await redis.xpending(stream, group["name"])
            if summary["min"] is not None and _id(summary["min"]) < _id(need.id):
                need = Floor(_str(summary["min"]), need.group, "pending")
        if floor is None or _id(need.id) < _id(floor.id):
            floor = need
    return floor


async def consumed_floor(redis: aioredis.Redis, stream: str) -> str | None:
    """The lowest entry id a group of `stream` still needs; None when it has no group."""
    floor = await group_floor(redis, stream)
    return None if floor is None else floor.id


def age_id(days: float, now: float | None = None) -> str:
    """The first entry id newer than `days` ago (stream ids start with a time in ms)."""
    now = time.time() if now is None else now
    return f"{int((now - days * 86400) * 1000)}-0"


async def trim_below(redis: aioredis.Redis, stream: str, minid: str) -> int:
    """XTRIM MINID: entries below `minid` go; returns how many (Redis's count)."""
    removed: int = await redis.xtrim(stream, minid=minid, approximate=False)
    return removed


async def count_below(redis: aioredis.Redis, stream: str, minid: str, *, page: int = 1000) -> int:
    """Entries with an id below `minid`: what `trim_below` would remove (a report)."""
    count, start = 0, "-"
    while True:
        entries: list[Any] = (
            await redis.xrange(stream, min=start, max=f"({minid}", count=page) or []
        )
        count += len(entries)
        if len(entries) < page:
            return count
        start = "(" + _str(entries[-1][0])


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
