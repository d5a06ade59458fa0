"""The event side of `make status`: consumer groups, dead letters, streams, the index.

Everything comes from where the services keep it: Redis (streams, groups, dead-letter
streams, the active-index alias) and the indexer's admin API (documents, lag, rebuilds),
so it also works against a stack someone else started, given REDIS_URL and
STREAM_PREFIX. The streams section shows each stream's length, memory, oldest entry and
the retention policy the scheduler's `stream-retention` job applies to it
(STREAM_RETENTION, `marcus_eventstore.retention`). Each section degrades to one line
saying what did not answer.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from dataclasses import dataclass

import redis.asyncio as aioredis

from marcus_eventstore.retention import (
    DEFAULT_RETENTION,
    Retention,
    RetentionError,
    parse_retention,
    retention_streams,
    stream_stats,
)


@dataclass(frozen=True)
class GroupRow:
    stream: str
    group: str
    length: int
    lag: int | None
    pending: int


@dataclass(frozen=True)
class StreamRow:
    stream: str
    """Without the prefix."""
    length: int
    memory_bytes: int | None
    oldest_id: str | None
    oldest_age_s: float | None
    retention: str
    """The policy that applies (`7d`, `7d or 1000000 entries`, `keep`), or why unknown."""


async def streams_report(
    redis_url: str, prefix: str = "", retention: Retention | None = None
) -> list[StreamRow]:
    """Every `events.*` and `dlq.*` stream: size, oldest entry, retention policy."""
    redis = aioredis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=5)
    try:
        rows = []
        for stream in await retention_streams(redis, prefix):
            name = stream.removeprefix(prefix)
            stats = await stream_stats(redis, stream)
            policy = "?" if retention is None else retention.policy_for(name).describe()
            rows.append(
                StreamRow(
                    name,
                    stats.length,
                    stats.memory_bytes,
                    stats.oldest_id,
                    stats.oldest_age_s,
                    policy,
                )
            )
        return rows
    finally:
        await redis.aclose()


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    if n < 1024:
        return f"{n} B"
    size = n / 1024
    for unit in ("kB", "MB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds >= 86_400:
        return f"{seconds // 86_400}d {seconds % 86_400 // 3600}h"
    if seconds >= 3600:
        return f"{seconds // 3600}h {seconds % 3600 // 60}m"
    return f"{seconds // 60}m {seconds % 60}s"


def print_streams(redis_url: str, prefix: str, retention_setting: str) -> None:
    """The streams section of `make status` (one line when Redis does not answer)."""
    note = ""
    try:
        retention: Retention | None = parse_retention(retention_setting)
    except RetentionError as exc:
        retention, note = None, f"  (STREAM_RETENTION is invalid: {exc})"
    try:
        rows = asyncio.run(streams_report(redis_url, prefix, retention))
    except Exception as exc:
        print(f"\nStreams: Redis not answering ({type(exc).__name__}: {exc})")
        return
    print(
        "\nStreams                    length     memory  oldest entry (age)              retention"
    )
    if note:
        print(note)
    if not rows:
        print("  (no events.* or dlq.* stream yet)")
    for row in rows:
        oldest = f"{row.oldest_id} ({_age(row.oldest_age_s)})" if row.oldest_id else "-"
        print(
            f"  {row.stream:<22} {row.length:>8} {_size(row.memory_bytes):>10}  "
            f"{oldest:<31} {row.retention}"
        )


async def _keys(redis: aioredis.Redis, pattern: str) -> list[str]:
    keys = [k.decode() async for k in redis.scan_iter(match=pattern, count=1000, _type="stream")]
    return sorted(keys)


async def stream_report(redis_url: str, prefix: str = "") -> tuple[list[GroupRow], dict[str, int]]:
    """(every consumer group of every `events.*` stream, dlq stream -> length)."""
    from marcus_messaging import group_state

    redis = aioredis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=5)
    try:
        rows: list[GroupRow] = []
        for stream in await _keys(redis, f"{prefix}events.*"):
            length = int(await redis.xlen(stream))
            for info in await redis.xinfo_groups(stream):
                name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
                state = await group_state(redis, stream, name)
                if state is None:
                    continue
                rows.append(
                    GroupRow(stream.removeprefix(prefix), name, length, state.lag, state.pending)
                )
        dlq = {
            stream.removeprefix(prefix): int(await redis.xlen(stream))
            for stream in await _keys(redis, f"{prefix}dlq.*")
        }
        return rows, dlq
    finally:
        await redis.aclose()


def index_report(indexer_url: str, token: str, redis_url: str, prefix: str = "") -> str:
    """One line about the active search index: from the indexer's admin API, else the
    alias in Redis (which the assistant reads)."""
    request = urllib.request.Request(
        f"{indexer_url}/api/v1/admin/index", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            status = json.load(reply)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return _alias_line(redis_url, prefix, f"indexer API not answering ({exc})")
    if not status.get("active_collection"):
        return "no active collection yet (make reindex, or save a product)"
    lag = status.get("lag") or {}
    line = (
        f"{status['active_collection']}: {status.get('documents')} documents, "
        f"embedder {status.get('embedder')}, not yet indexed {lag.get('total')}"
    )
    last = status.get("last_rebuild")
    if last:
        line += f"; last rebuild {last.get('status')} {last.get('finished_at') or ''}".rstrip()
    if status.get("current_rebuild"):
        line += f"; rebuild {status['current_rebuild'].get('status')} now"
    return line


def _alias_line(redis_url: str, prefix: str, why: str) -> str:
    from marcus_search.alias import alias_key

    async def read() -> bytes | None:
        redis = aioredis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=5)
        try:
            value: bytes | None = await redis.get(alias_key(prefix))
            return value
        finally:
            await redis.aclose()

    try:
        raw = asyncio.run(read())
    except Exception as exc:
        return f"{why}; Redis not answering either ({type(exc).__name__})"
    if raw is None:
        return f"{why}; no active-index alias in Redis"
    alias = json.loads(raw)
    return f"{alias['collection']} (embedder {alias['embedder']}, from the Redis alias; {why})"


def print_event_status(
    redis_url: str,
    prefix: str,
    indexer_url: str,
    token: str,
    retention: str = DEFAULT_RETENTION,
) -> None:
    """The consumer groups, dead letters, streams and active index sections of `make
    status`; `retention` is the STREAM_RETENTION setting."""
    try:
        rows, dlq = asyncio.run(stream_report(redis_url, prefix))
    except Exception as exc:
        print(f"\nEvent streams: Redis not answering ({type(exc).__name__}: {exc})")
    else:
        print("\nConsumer groups                         length      lag  pending")
        if not rows:
            print("  (no events.* stream yet)")
        for row in rows:
            lag = "?" if row.lag is None else str(row.lag)
            print(f"  {row.stream:<20} {row.group:<12} {row.length:>8} {lag:>8} {row.pending:>8}")
        print("\nDead letters")
        if not dlq:
            print("  none (no dlq.* stream)")
        for stream, length in dlq.items():
            hint = "   <- docs/runbook.md: dead letters" if length else ""
            print(f"  {stream:<33} {length:>8}{hint}")
    print_streams(redis_url, prefix, retention)
    print("\nSearch index")
    print(f"  {index_report(indexer_url, token, redis_url, prefix)}")
