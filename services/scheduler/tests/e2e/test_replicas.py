"""Two scheduler processes (`python -m scheduler serve`): exactly one event per fire
time; SIGKILL the active one and the standby takes over once its lease runs out."""

from __future__ import annotations

import itertools
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from marcus_contracts import registry
from scheduler.jobs import VIEWS_REFRESH, run_id
from services.scheduler.tests.support import all_runs
from tests.support.processes import ServiceProcess, service_env, stop_all
from tests.support.servers import wait_for

pytestmark = pytest.mark.fault

LEASE_TTL = 3.0
EVERY_TWO_SECONDS = "*/2 * * * * *"


def replica(settings, log: Path) -> ServiceProcess:
    """A scheduler process firing views-refresh every two seconds, on a short lease."""
    env = service_env(
        settings.database_url,
        settings.redis_url,
        settings.stream_prefix,
        secret=settings.jwt_secret,
        extra={
            "RELAY_POLL_INTERVAL": "0.2",
            "VIEWS_REFRESH_CRON": EVERY_TWO_SECONDS,
            "INDEX_REBUILD_CRON": "0 0 29 2 *",
            "CART_REMINDERS_CRON": "0 0 29 2 *",
            "MISFIRE_GRACE_SECONDS": "60",
            "LEASE_TTL_SECONDS": str(LEASE_TTL),
            "LEASE_POLL_SECONDS": "0.25",
            "CONSUMER_ENABLED": "false",
        },
    )
    return ServiceProcess("scheduler", env, log)


async def lease_holder_pid(engine) -> int | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT holder FROM scheduler.leases "
                    "WHERE name = 'scheduler' AND expires_at > clock_timestamp()"
                )
            )
        ).first()
    return int(row.holder.rsplit("-", 2)[1]) if row else None


async def test_two_replicas_one_event_per_fire_time_and_failover(
    engine, settings, scheduler_stream, tmp_path
) -> None:
    replicas = [replica(settings, tmp_path / f"replica-{n}.log").start() for n in (1, 2)]
    try:
        for running in replicas:
            await running.ready(within=60)
        await wait_for(lambda: _runs_at_least(engine, 3), within=30, what="three fires")

        leader_pid = await wait_for(lambda: lease_holder_pid(engine), what="a leader")
        by_pid = {running.proc.pid: running for running in replicas if running.proc}
        assert leader_pid in by_pid, "the lease holder is one of the two replicas"
        [standby] = [running for pid, running in by_pid.items() if pid != leader_pid]
        assert standby.proc and standby.proc.poll() is None, "the standby runs, not firing"

        before_kill = len(await all_runs(engine))
        by_pid[leader_pid].kill()
        killed_at = time.monotonic()

        await wait_for(
            lambda: _holder_is(engine, standby.proc.pid),
            within=LEASE_TTL * 5,
            interval=0.02,
            what="the standby to take the lease",
        )
        takeover = time.monotonic() - killed_at
        print(f"\ntakeover after SIGKILL: {takeover:.2f}s (lease TTL {LEASE_TTL}s)")
        await wait_for(
            lambda: _runs_at_least(engine, before_kill + 3),
            within=30,
            what="the new leader firing",
        )
        standby.stop(grace=20)
    finally:
        stop_all(replicas)

    runs = [r for r in await all_runs(engine) if r.job == VIEWS_REFRESH]
    fire_times = [r.fire_time for r in runs]
    assert len(fire_times) == len(set(fire_times)), "one run per fire time"
    await wait_for(
        lambda: _published(scheduler_stream, len(runs)), within=15, what="every run's event"
    )
    envelopes = await scheduler_stream.fires()
    ids = [e.id for e in envelopes]
    assert len(set(ids)) == len(runs), "exactly one distinct event per fire time"
    # At-least-once relay: a batch XADDed just before the SIGKILL may repeat; same ids.
    for envelope in envelopes:
        event = registry.decode(envelope)
        assert envelope.id == run_id(event.job, event.fire_time)
    assert {e.id for e in envelopes} == {r.id for r in runs}

    # Every run is one of the cron's fire times (none invented from the clock), and
    # consecutive runs are at least one period apart: no fire time was fired twice.
    assert all(f.second % 2 == 0 and f.microsecond == 0 for f in fire_times)
    assert all(b - a >= timedelta(seconds=2) for a, b in itertools.pairwise(fire_times))


async def _runs_at_least(engine, count: int) -> bool:
    return len(await all_runs(engine)) >= count


async def _holder_is(engine, pid: int) -> bool:
    return await lease_holder_pid(engine) == pid


async def _published(stream, count: int) -> bool:
    return len({e.id for e in await stream.fires()}) >= count
