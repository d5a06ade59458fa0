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

from libs.messaging.tests.integration.support import Bus, category_created, text_of, wait_for
from marcus_messaging import ConsumerSettings, group_state

ROOT = Path(__file__).resolve().parents[4]
GROUP = "indexer"
EVENTS = 30


def start_victim(bus: Bus, database_url: str, prefix: str) -> subprocess.Popen:
    """`consumer_app` as "victim": it records an effect per event, slowly (0.15 s each)."""
    redis_url, schema = bus.redis_url, bus.schema
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
    bus: Bus, database_url: str, stream_prefix: str
) -> None:
    engine, schema, redis_client, stream = bus.engine, bus.schema, bus.redis, bus.stream
    envelopes = [category_created(f"c{i}") for i in range(EVENTS)]
    await bus.publish(*envelopes)

    async def progress() -> tuple[int, int]:
        done = len(await bus.effects())  # once there are any, the group exists
        return done, len(await victim_pending(redis_client, stream)) if done else 0

    victim = start_victim(bus, database_url, stream_prefix)
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
    done_by_victim = len(await bus.effects())

    rescuer = bus.recorder(
        GROUP,
        ConsumerSettings(
            consumer_name="rescuer",
            block_ms=100,
            reclaim_interval_ms=50,
            reclaim_min_idle_ms=300,
            shutdown_timeout_s=2,
        ),
    )

    async with rescuer.running():
        await bus.effects_until(
            lambda rows: len({row[0] for row in rows}) == EVENTS, what="an effect for every event"
        )
        await bus.drained(GROUP)
        assert await victim_pending(redis_client, stream) == []

    rows = await bus.effects()
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
    bus: Bus, database_url: str, stream_prefix: str
) -> None:
    engine, schema, redis_client, stream = bus.engine, bus.schema, bus.redis, bus.stream
    await bus.publish(*(category_created(f"c{i}") for i in range(EVENTS)))

    process = start_victim(bus, database_url, stream_prefix)
    try:
        await bus.effects_until(lambda rows: len(rows) >= 2, deadline_s=30)
        process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.wait, 10)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 0
    # The batch in flight committed and was acked, or (past shutdown_timeout_s) was
    # cancelled and rolled back, staying pending for the group: every committed effect is
    # in the ledger, and acked, and nothing else is.
    done = len(await bus.effects())
    async with engine.connect() as conn:
        assert await conn.scalar(text(f"SELECT count(*) FROM {schema}.processed_events")) == done
    state = await group_state(redis_client, stream, GROUP)
    assert state is not None
    delivered = int(await redis_client.xlen(stream)) - state.lag
    assert delivered - state.pending == done
