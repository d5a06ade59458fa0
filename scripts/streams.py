"""`make trim-streams` (`python -m scripts.streams trim`): trim Redis streams safely.

Event streams (`events.*`) lose only entries older than `--events-older-than` days that
every consumer group has read and acknowledged (MINID below each group's oldest pending
and first undelivered entry: `marcus_eventstore.trimming`). Dead-letter streams (`dlq.*`)
lose entries older than `--dlq-older-than` days (they have no group: people read them).
Without `--apply` it only says what it would trim. Uses REDIS_URL and STREAM_PREFIX
(environment, then `.env`). See docs/runbook.md, "Stream retention".
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from marcus_eventstore.trimming import age_id, consumed_floor, trim_below
from marcus_web.settings import ServiceSettings


async def _streams(redis: aioredis.Redis, pattern: str) -> list[str]:
    found = [k.decode() async for k in redis.scan_iter(match=pattern, count=1000, _type="stream")]
    return sorted(found)


async def _count_below(redis: aioredis.Redis, stream: str, minid: str) -> int:
    """Entries with an id below `minid` (what XTRIM MINID would remove)."""
    count, start = 0, "-"
    while True:
        page: list[Any] = await redis.xrange(stream, min=start, max=f"({minid}", count=1000) or []
        count += len(page)
        if len(page) < 1000:
            return count
        last = page[-1][0]
        start = "(" + (last.decode() if isinstance(last, bytes) else str(last))


def _when(entry_id: str) -> str:
    ms = int(entry_id.split("-")[0])
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


async def trim(
    redis_url: str, prefix: str, *, events_days: float | None, dlq_days: float, apply: bool
) -> list[tuple[str, int, str]]:
    """(stream, entries trimmed or to trim, why) for every stream under `prefix`."""
    redis = aioredis.from_url(redis_url)
    report: list[tuple[str, int, str]] = []
    try:
        for stream in await _streams(redis, f"{prefix}events.*"):
            if events_days is None:
                report.append((stream, 0, "kept (no --events-older-than)"))
                continue
            floor = await consumed_floor(redis, stream)
            if floor is None:
                report.append((stream, 0, "kept: no consumer group, nothing known consumed"))
                continue
            minid = min(floor, age_id(events_days), key=lambda i: tuple(map(int, i.split("-"))))
            why = f"below {minid} ({_when(minid)}; consumed by every group, older than"
            why += f" {events_days:g} days)"
            count = await (trim_below if apply else _count_below)(redis, stream, minid)
            report.append((stream, count, why))
        minid = age_id(dlq_days)
        for stream in await _streams(redis, f"{prefix}dlq.*"):
            count = await (trim_below if apply else _count_below)(redis, stream, minid)
            report.append((stream, count, f"older than {dlq_days:g} days ({_when(minid)})"))
    finally:
        await redis.aclose()
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("trim", help="trim consumed event entries and old dead letters")
    cmd.add_argument(
        "--events-older-than",
        type=float,
        default=None,
        metavar="DAYS",
        help="trim event entries older than DAYS that every group consumed (default: none;"
        " the indexer's rebuild replays events.catalog from its first entry)",
    )
    cmd.add_argument("--dlq-older-than", type=float, default=30, metavar="DAYS")
    cmd.add_argument("--apply", action="store_true", help="trim (default: only report)")
    args = parser.parse_args(argv)
    settings = ServiceSettings()
    report = asyncio.run(
        trim(
            settings.redis_url,
            settings.stream_prefix,
            events_days=args.events_older_than,
            dlq_days=args.dlq_older_than,
            apply=args.apply,
        )
    )
    verb = "trimmed" if args.apply else "would trim"
    for stream, count, why in report or [("(no stream)", 0, "")]:
        print(f"{stream}: {verb} {count} {why}".rstrip())
    if not args.apply:
        print("(a report only: add --apply, e.g. make trim-streams TRIM_ARGS=--apply)")


if __name__ == "__main__":
    main()
