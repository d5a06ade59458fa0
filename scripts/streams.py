"""`make trim-streams` (`python -m scripts.streams trim`): stream retention, on demand.

Applies each stream's retention policy (`STREAM_RETENTION`, the scheduler's setting:
environment, then `.env`; default `events.*=6d;dlq.*=30d`) to every `events.*` and
`dlq.*` stream under STREAM_PREFIX, with `marcus_eventstore.retention`, exactly as the
scheduler's `stream-retention` job does every 15 minutes: the same numbers, the same
floor (never an entry a consumer group has not acknowledged; a stream without a group is
kept, dead letters follow their policy). Without `--apply` it only reports. See
docs/runbook.md, "Stream retention".
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime

import redis.asyncio as aioredis

from marcus_eventstore.retention import (
    Retention,
    RetentionError,
    RetentionOutcome,
    RetentionPolicy,
    Rule,
    apply_retention,
    parse_retention,
    retention_streams,
)
from marcus_eventstore.trimming import id_key
from marcus_web.settings import ServiceSettings


async def retention_report(
    redis_url: str, prefix: str, retention: Retention, *, apply: bool, now: float | None = None
) -> list[RetentionOutcome]:
    """Each stream's outcome under `retention` (removed, or what would be)."""
    redis = aioredis.from_url(redis_url)
    try:
        outcomes = []
        for stream in await retention_streams(redis, prefix):
            name = stream.removeprefix(prefix)
            outcomes.append(
                await apply_retention(
                    redis,
                    stream,
                    retention.policy_for(name),
                    now=now,
                    apply=apply,
                    dead_letters=name.startswith("dlq."),
                )
            )
        return outcomes
    finally:
        await redis.aclose()


def days_retention(events_days: float | None, dlq_days: float | None) -> Retention:
    """`events.*` and `dlq.*` by age in days (None: kept)."""

    def policy(days: float | None) -> RetentionPolicy:
        return RetentionPolicy() if days is None else RetentionPolicy(max_age_s=days * 86_400)

    return Retention((Rule("events.*", policy(events_days)), Rule("dlq.*", policy(dlq_days))))


async def trim(
    redis_url: str, prefix: str, *, events_days: float | None, dlq_days: float, apply: bool
) -> list[tuple[str, int, str]]:
    """(stream, entries trimmed or to trim, why): event streams by `events_days` (None:
    kept), dead letters by `dlq_days`."""
    outcomes = await retention_report(
        redis_url, prefix, days_retention(events_days, dlq_days), apply=apply
    )
    return [(o.stream, o.removed, _why(o)) for o in outcomes]


def _when(entry_id: str) -> str:
    ms = id_key(entry_id)[0]
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _why(outcome: RetentionOutcome) -> str:
    why = f"retention {outcome.policy.describe()}"
    if outcome.minid is not None:
        why += f"; below {outcome.minid} ({_when(outcome.minid)})"
    if outcome.why:
        why += f"; {outcome.why}"
    return why


def _retention_setting(spec: str | None) -> Retention:
    if spec is not None:
        return parse_retention(spec)
    from scheduler.settings import SchedulerSettings

    return SchedulerSettings().retention()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("trim", help="apply the retention policies (a report unless --apply)")
    cmd.add_argument(
        "--retention",
        metavar="SPEC",
        help="policies for this run instead of STREAM_RETENTION, e.g. 'events.*=3d;dlq.*=30d'",
    )
    cmd.add_argument(
        "--events-older-than",
        type=float,
        metavar="DAYS",
        help="every events.* stream keeps DAYS (instead of its policy)",
    )
    cmd.add_argument(
        "--dlq-older-than",
        type=float,
        metavar="DAYS",
        help="every dlq.* stream keeps DAYS (instead of its policy)",
    )
    cmd.add_argument("--apply", action="store_true", help="trim (default: only report)")
    args = parser.parse_args(argv)
    try:
        retention = _retention_setting(args.retention)
    except RetentionError as exc:
        parser.error(f"--retention: {exc}")
    overrides = []
    if args.events_older_than is not None:
        overrides.append(Rule("events.*", RetentionPolicy(args.events_older_than * 86_400)))
    if args.dlq_older_than is not None:
        overrides.append(Rule("dlq.*", RetentionPolicy(args.dlq_older_than * 86_400)))
    if overrides:  # the glob is the least specific: exact names would still win, so drop them
        kept = [r for r in retention.rules if not any(_same_family(r, o) for o in overrides)]
        retention = Retention((*overrides, *kept))
    settings = ServiceSettings()
    outcomes = asyncio.run(
        retention_report(settings.redis_url, settings.stream_prefix, retention, apply=args.apply)
    )
    print(f"retention: {retention}")
    verb = "trimmed" if args.apply else "would trim"
    for outcome in outcomes:
        print(f"{outcome.stream}: {verb} {outcome.removed} ({_why(outcome)})")
    if not outcomes:
        print("(no events.* or dlq.* stream)")
    if not args.apply:
        print("(a report only: add --apply, e.g. make trim-streams TRIM_ARGS=--apply)")


def _same_family(rule: Rule, override: Rule) -> bool:
    """`rule` applies to streams of the override's family (`events.` or `dlq.`)."""
    return rule.pattern.startswith(override.pattern.removesuffix("*"))


if __name__ == "__main__":
    main()
