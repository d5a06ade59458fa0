"""`apply_retention` on a real Redis: a policy trims only below every group's floor, so an
entry a group has not acknowledged (pending) or not read yet (lagging) is never removed,
by age or by length; dead letters (no group) follow their policy; a report removes
nothing. Stream ids are written explicitly, days apart, and `now` is fixed."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from marcus_eventstore.retention import (
    KEEP,
    RetentionPolicy,
    apply_retention,
    retention_streams,
    stream_stats,
)

NOW = 1_760_000_000.0
"""A fixed clock (seconds): ids are placed relative to it, and it is passed as `now`."""
DAY = 86_400


def ms_ago(days: float) -> int:
    return int((NOW - days * DAY) * 1000)


async def days_old(redis: aioredis.Redis, stream: str, *ages: float) -> list[str]:
    """One entry per age (days before NOW), oldest first; their ids."""
    ids = []
    for age in sorted(ages, reverse=True):
        entry = await redis.xadd(stream, {"event": b"{}"}, id=f"{ms_ago(age)}-0")
        ids.append(entry.decode())
    return ids


async def ids_of(redis: aioredis.Redis, stream: str) -> list[str]:
    return [entry_id.decode() for entry_id, _ in await redis.xrange(stream)]


async def consume(
    redis: aioredis.Redis, stream: str, group: str, read: int, ack: list[str]
) -> None:
    """`group` reads the first `read` entries and acknowledges `ack` of them."""
    if read:
        await redis.xreadgroup(group, f"{group}-1", {stream: ">"}, count=read)
    if ack:
        await redis.xack(stream, group, *ack)


TEN_DAYS = (10, 9, 8, 7.5, 6, 5, 4, 3, 2, 1)


async def test_pending_entries_are_kept_whatever_the_age(redis_client, stream_prefix) -> None:
    stream = f"{stream_prefix}events.catalog"
    ids = await days_old(redis_client, stream, *TEN_DAYS)
    await redis_client.xgroup_create(stream, "fast", id="0")
    await consume(redis_client, stream, "fast", 10, ids)
    await redis_client.xgroup_create(stream, "indexer", id="0")
    await consume(redis_client, stream, "indexer", 6, ids[:2])  # ids[2..5] delivered, not acked

    outcome = await apply_retention(
        redis_client, stream, RetentionPolicy(max_age_s=3 * DAY), now=NOW
    )

    assert outcome.removed == 2
    assert outcome.minid == ids[2]
    assert outcome.held_by == f"group indexer pending since {ids[2]}"
    assert await ids_of(redis_client, stream) == ids[2:]
    pending = await redis_client.xpending(stream, "indexer")
    assert pending["pending"] == 4, "every unacknowledged entry is still there to be claimed"


async def test_undelivered_entries_of_a_lagging_group_are_kept(redis_client, stream_prefix) -> None:
    stream = f"{stream_prefix}events.catalog"
    ids = await days_old(redis_client, stream, *TEN_DAYS)
    await redis_client.xgroup_create(stream, "orders", id="0")
    await consume(redis_client, stream, "orders", 3, ids[:3])  # read and acked 3 of 10

    outcome = await apply_retention(redis_client, stream, RetentionPolicy(max_age_s=DAY), now=NOW)

    floor = f"{ms_ago(8)}-1"  # the entry after the last one delivered
    assert (outcome.removed, outcome.minid) == (3, floor)
    assert outcome.held_by == f"group orders undelivered since {floor}"
    assert await ids_of(redis_client, stream) == ids[3:]


async def test_a_length_policy_stops_at_the_floor_too(redis_client, stream_prefix) -> None:
    stream = f"{stream_prefix}events.orders"
    ids = await days_old(redis_client, stream, *TEN_DAYS)
    await redis_client.xgroup_create(stream, "lagging", id="0")
    await consume(redis_client, stream, "lagging", 4, ids[:4])
    await redis_client.xgroup_create(stream, "crashed", id="0")
    await consume(redis_client, stream, "crashed", 10, [i for i in ids if i != ids[5]])

    outcome = await apply_retention(redis_client, stream, RetentionPolicy(max_length=2), now=NOW)

    assert outcome.removed == 4 and outcome.held_by and "lagging" in outcome.held_by
    await consume(redis_client, stream, "lagging", 10, ids[4:])  # catches up
    outcome = await apply_retention(redis_client, stream, RetentionPolicy(max_length=2), now=NOW)
    assert outcome.removed == 1
    assert outcome.held_by == f"group crashed pending since {ids[5]}"
    assert await ids_of(redis_client, stream) == ids[5:]


async def test_entries_every_group_consumed_go_by_age_and_length(
    redis_client, stream_prefix
) -> None:
    stream = f"{stream_prefix}events.catalog"
    ids = await days_old(redis_client, stream, *TEN_DAYS)
    for group in ("indexer", "orders"):
        await redis_client.xgroup_create(stream, group, id="0")
        await consume(redis_client, stream, group, 10, ids)

    by_age = await apply_retention(
        redis_client, stream, RetentionPolicy(max_age_s=7 * DAY), now=NOW
    )
    assert (by_age.removed, by_age.minid, by_age.held_by) == (4, f"{ms_ago(7)}-0", None)
    assert await ids_of(redis_client, stream) == ids[4:]

    by_length = await apply_retention(redis_client, stream, RetentionPolicy(max_length=4), now=NOW)
    assert (by_length.removed, by_length.minid, by_length.held_by) == (2, ids[6], None)
    assert await ids_of(redis_client, stream) == ids[6:]

    both = RetentionPolicy(max_age_s=1.5 * DAY, max_length=3)  # whichever trims more
    outcome = await apply_retention(redis_client, stream, both, now=NOW)
    assert outcome.removed == 3 and await ids_of(redis_client, stream) == ids[9:]


async def test_a_stream_without_a_group_is_untouched(redis_client, stream_prefix) -> None:
    stream = f"{stream_prefix}events.pricing"
    ids = await days_old(redis_client, stream, 40, 30, 20)

    policy = RetentionPolicy(max_age_s=DAY, max_length=1)
    outcome = await apply_retention(redis_client, stream, policy, now=NOW)

    assert (outcome.removed, outcome.minid, outcome.held_by) == (0, None, "no group")
    assert not outcome.held_by_group and "kept: no consumer group" in outcome.describe()
    assert await ids_of(redis_client, stream) == ids


async def test_dead_letters_have_no_group_and_go_by_age_or_length(
    redis_client, stream_prefix
) -> None:
    stream = f"{stream_prefix}dlq.indexer"
    ids = await days_old(redis_client, stream, 45, 31, 29, 2, 1)

    outcome = await apply_retention(
        redis_client, stream, RetentionPolicy(max_age_s=30 * DAY), now=NOW
    )
    assert (outcome.removed, outcome.held_by) == (2, None)
    assert await ids_of(redis_client, stream) == ids[2:]

    outcome = await apply_retention(redis_client, stream, RetentionPolicy(max_length=1), now=NOW)
    assert outcome.removed == 2 and await ids_of(redis_client, stream) == ids[4:]


async def test_a_report_removes_nothing_and_counts_what_would_go(
    redis_client, stream_prefix
) -> None:
    stream = f"{stream_prefix}events.catalog"
    ids = await days_old(redis_client, stream, *TEN_DAYS)
    await redis_client.xgroup_create(stream, "indexer", id="$")  # everything consumed
    policy = RetentionPolicy(max_age_s=5.5 * DAY)

    report = await apply_retention(redis_client, stream, policy, now=NOW, apply=False)
    assert (report.removed, report.applied) == (5, False)
    assert await ids_of(redis_client, stream) == ids
    assert "would trim 5" in report.describe()

    applied = await apply_retention(redis_client, stream, policy, now=NOW)
    assert (applied.removed, applied.minid) == (report.removed, report.minid)
    assert await ids_of(redis_client, stream) == ids[5:]


async def test_keep_and_an_empty_stream_trim_nothing(redis_client, stream_prefix) -> None:
    stream = f"{stream_prefix}events.catalog"
    ids = await days_old(redis_client, stream, 400, 300)
    await redis_client.xgroup_create(stream, "indexer", id="$")
    outcome = await apply_retention(redis_client, stream, KEEP, now=NOW)
    assert (outcome.removed, outcome.held_by) == (0, "retention: keep")
    assert await ids_of(redis_client, stream) == ids
    missing = await apply_retention(
        redis_client, f"{stream_prefix}events.none", RetentionPolicy(DAY), now=NOW
    )
    assert (missing.removed, missing.minid) == (0, None)


async def test_now_is_the_clock_of_the_age_policy(redis_client, stream_prefix) -> None:
    """Thirty simulated days: the same stream, judged at day 10 and at day 30."""
    stream = f"{stream_prefix}dlq.orders"
    ids = await days_old(redis_client, stream, *range(30, 0, -1))  # 30 days ago .. yesterday
    week = RetentionPolicy(max_age_s=7 * DAY)
    at_day_10 = NOW - 20 * DAY
    early = await apply_retention(redis_client, stream, week, now=at_day_10, apply=False)
    assert early.removed == 3  # 30, 29 and 28 days before NOW are older than a week then
    late = await apply_retention(redis_client, stream, week, now=NOW)
    assert late.removed == 23 and await ids_of(redis_client, stream) == ids[23:]


async def test_a_long_stream_is_trimmed_by_length_across_pages(redis_client, stream_prefix) -> None:
    stream = f"{stream_prefix}events.orders"
    async with redis_client.pipeline(transaction=False) as pipe:
        for i in range(2500):
            pipe.xadd(stream, {"event": b"{}"}, id=f"{ms_ago(3) + i}-0")
        await pipe.execute()
    await redis_client.xgroup_create(stream, "notifier", id="0")
    await consume(redis_client, stream, "notifier", 2200, [])
    pending: Any = await redis_client.xpending_range(stream, "notifier", "-", "+", 2200)
    await redis_client.xack(stream, "notifier", *[p["message_id"] for p in pending])

    report = await apply_retention(
        redis_client, stream, RetentionPolicy(max_length=100), now=NOW, apply=False
    )
    assert (report.removed, report.minid) == (2200, f"{ms_ago(3) + 2199}-1")
    await consume(redis_client, stream, "notifier", 300, [])  # the rest delivered, pending
    outcome = await apply_retention(redis_client, stream, RetentionPolicy(max_length=100), now=NOW)
    assert outcome.removed == 2200 and await redis_client.xlen(stream) == 300
    assert outcome.held_by == f"group notifier pending since {ms_ago(3) + 2200}-0"


async def test_stats_and_the_streams_retention_applies_to(redis_client, stream_prefix) -> None:
    await days_old(redis_client, f"{stream_prefix}events.catalog", 3, 2)
    await days_old(redis_client, f"{stream_prefix}dlq.indexer", 1)
    await redis_client.set(f"{stream_prefix}events.not-a-stream", "x")
    await days_old(redis_client, f"{stream_prefix}snapshots.catalog.1", 1)

    streams = await retention_streams(redis_client, stream_prefix)
    assert streams == [f"{stream_prefix}dlq.indexer", f"{stream_prefix}events.catalog"]
    stats = await stream_stats(redis_client, f"{stream_prefix}events.catalog", now=NOW)
    assert stats.length == 2 and stats.oldest_id == f"{ms_ago(3)}-0"
    assert stats.oldest_age_s == 3 * DAY
    assert stats.memory_bytes is not None and stats.memory_bytes > 0
