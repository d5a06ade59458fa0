"""A consumer process killed with SIGKILL while holding unacknowledged entries: another
member of the group reclaims them, and every event still has exactly one effect."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.messaging.tests.integration.support import (
    category_created,
    effects,
    pending_count,
    publish,
    record_effect,
    text_of,
    wait_for,
)
from marcus_contracts import StreamNames
from marcus_messaging import Consumer, ConsumerSettings, HandlerContext, group_state

ROOT = Path(__file__).resolve().parents[4]
GROUP = "indexer"
EVENTS = 30


def start_victim(redis_url: str, database_url: str, prefix: str, schema: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "libs.messaging.tests.integration.consumer_app",
            *("--redis-url", redis_url, "--database-url", database_url),
            *("--prefix", prefix, "--schema", schema, "--group", GROUP),
            *("--name", "victim", "--delay", "0.15", "--batch", "10"),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def victim_pending(redis: aioredis.Redis, stream: str) -> list[str]:
    entries: Any = await redis.xpending_range(stream, GROUP, "-", "+", 100, consumername="victim")
    return [text_of(entry["message_id"]) for entry in entries]


@pytest.mark.fault
async def test_entries_of_a_killed_consumer_are_reclaimed_exactly_once(
    engine: AsyncEngine,
    schema: str,
    database_url: str,
    redis_url: str,
    stream_prefix: str,
    names: StreamNames,
    redis_client: aioredis.Redis,
) -> None:
    stream = names.events("catalog")
    envelopes = [category_created(f"c{i}") for i in range(EVENTS)]
    for envelope in envelopes:
        await publish(redis_client, stream, envelope)

    async def progress() -> tuple[int, int]:
        done = len(await effects(engine, schema))  # once there are any, the group exists
        return done, len(await victim_pending(redis_client, stream)) if done else 0

    victim = start_victim(redis_url, database_url, stream_prefix, schema)
    try:
        # Kill it mid-batch: some effects committed, more entries delivered but unacked
        # (not in the instant between a batch's XACK and the next XREADGROUP).
        await wait_for(
            progress,
            lambda counts: counts[0] >= 3 and counts[1] > 0,
            deadline_s=30,
            what="the victim's first effects, and a batch in its hands",
        )
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
    finally:
        if victim.poll() is None:
            victim.kill()
    held = await victim_pending(redis_client, stream)  # exactly what it left behind
    assert held, "the victim held no unacknowledged entries when killed"
    done_by_victim = len(await effects(engine, schema))

    rescuer = Consumer(
        group=GROUP,
        streams=["catalog"],
        engine=engine,
        schema=schema,
        redis_url=redis_url,
        names=names,
        settings=ConsumerSettings(
            consumer_name="rescuer",
            block_ms=100,
            reclaim_interval_ms=50,
            reclaim_min_idle_ms=300,
            shutdown_timeout_s=2,
        ),
    )

    @rescuer.handler("catalog.category.created")
    async def handle(ctx: HandlerContext) -> None:
        await record_effect(ctx, schema, "rescuer")

    async with rescuer.running():
        await wait_for(
            lambda: effects(engine, schema),
            lambda rows: len({row[0] for row in rows}) == EVENTS,
            what="an effect for every event",
        )
        await wait_for(
            lambda: pending_count(redis_client, stream, GROUP), lambda n: n == 0, what="acks"
        )
        assert await victim_pending(redis_client, stream) == []

    rows = await effects(engine, schema)
    assert sorted(row[0] for row in rows) == sorted(str(e.id) for e in envelopes)  # once each
    assert {row[2] for row in rows[done_by_victim:]} == {"rescuer"}
    async with engine.connect() as conn:
        ledger = await conn.scalar(text(f"SELECT count(*) FROM {schema}.processed_events"))
    assert ledger == EVENTS
    reclaimed = REGISTRY.get_sample_value(
        "messaging_entries_reclaimed_total", {"group": GROUP, "stream": stream}
    )
    assert reclaimed is not None and reclaimed >= len(held)


async def test_sigterm_stops_the_consume_process_cleanly(
    engine: AsyncEngine,
    schema: str,
    database_url: str,
    redis_url: str,
    stream_prefix: str,
    names: StreamNames,
    redis_client: aioredis.Redis,
) -> None:
    stream = names.events("catalog")
    for i in range(EVENTS):
        await publish(redis_client, stream, category_created(f"c{i}"))

    process = start_victim(redis_url, database_url, stream_prefix, schema)
    try:
        await wait_for(lambda: effects(engine, schema), lambda rows: len(rows) >= 2, deadline_s=30)
        process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.wait, 10)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 0
    # The batch in flight committed and was acked, or (past shutdown_timeout_s) was
    # cancelled and rolled back, staying pending for the group: every committed effect is
    # in the ledger, and acked, and nothing else is.
    done = len(await effects(engine, schema))
    async with engine.connect() as conn:
        assert await conn.scalar(text(f"SELECT count(*) FROM {schema}.processed_events")) == done
    state = await group_state(redis_client, stream, GROUP)
    assert state is not None
    delivered = int(await redis_client.xlen(stream)) - state.lag
    assert delivered - state.pending == done
