"""Firing against the real schema: one run and one event per (job, fire time), the
fence that stops a deposed leader, and the lease that elects one leader."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from marcus_contracts import Envelope, registry
from scheduler import handlers
from scheduler.domain import NotLeader
from scheduler.jobs import CART_REMINDERS, INDEX_REBUILD, VIEWS_REFRESH, Job, default_jobs, run_id
from scheduler.storage.lease import Lease
from scheduler.storage.tables import event_store
from scheduler.storage.uow import SchedulerUnitOfWork
from services.scheduler.tests.support import all_runs
from tests.support.servers import wait_for

JOBS = default_jobs(
    timezone=ZoneInfo("Europe/Berlin"),
    index_rebuild_cron="0 3 * * *",
    views_refresh_cron="0 * * * *",
)
FIRE = datetime(2025, 1, 15, 3, tzinfo=ZoneInfo("Europe/Berlin"))


async def fire(
    sessions: async_sessionmaker[AsyncSession], job: Job, when: datetime = FIRE, **kwargs
) -> handlers.Fired:
    return await handlers.fire_job(
        handlers.FireJob(job, when), SchedulerUnitOfWork(sessions), **kwargs
    )


async def stored_events(engine: AsyncEngine) -> list:
    async with engine.connect() as conn:
        events = event_store.events
        rows = (await conn.execute(select(events).order_by(events.c.position))).all()
        outbox = (await conn.execute(select(event_store.outbox.c.position))).scalars().all()
    return [(row, row.position in set(outbox)) for row in rows]


async def test_a_fire_records_the_run_and_queues_its_event_together(engine, sessions) -> None:
    fired = await fire(sessions, JOBS[INDEX_REBUILD])

    assert fired.created
    assert fired.run_id == run_id(INDEX_REBUILD, FIRE)
    [(event, queued)] = await stored_events(engine)
    assert queued, "the event waits in the outbox for the relay"
    assert event.id == fired.run_id, "event id derives from (job, fire time)"
    assert event.subject == str(fired.run_id) and event.sequence == 1
    assert event.type == "scheduler.index.rebuild_requested"
    data = registry.decode(Envelope.model_validate(event.envelope))
    assert data.fire_time == FIRE.astimezone(UTC)
    assert data.requested_by == "schedule"
    [run] = await all_runs(engine)
    assert (run.id, run.job, run.fire_time, run.status) == (
        fired.run_id,
        INDEX_REBUILD,
        FIRE,
        "requested",
    )


async def test_firing_the_same_fire_time_again_is_a_no_op(engine, sessions) -> None:
    first = await fire(sessions, JOBS[INDEX_REBUILD])
    again = await fire(sessions, JOBS[INDEX_REBUILD], FIRE.astimezone(ZoneInfo("Asia/Tokyo")))

    assert first.created and not again.created
    assert again.run_id == first.run_id
    assert len(await stored_events(engine)) == 1
    assert len(await all_runs(engine)) == 1


async def test_concurrent_fires_of_one_fire_time_emit_one_event(engine, sessions) -> None:
    """As two replicas would, at the same instant: the unique run keeps exactly one."""
    results = await asyncio.gather(*(fire(sessions, JOBS[VIEWS_REFRESH]) for _ in range(8)))

    assert sum(r.created for r in results) == 1
    assert {r.run_id for r in results} == {run_id(VIEWS_REFRESH, FIRE)}
    assert len(await stored_events(engine)) == 1
    assert len(await all_runs(engine)) == 1


async def test_other_jobs_and_fire_times_are_separate_runs(engine, sessions) -> None:
    await fire(sessions, JOBS[INDEX_REBUILD])
    await fire(sessions, JOBS[VIEWS_REFRESH])
    await fire(sessions, JOBS[INDEX_REBUILD], FIRE + timedelta(days=1))

    assert len(await stored_events(engine)) == 3
    assert [(r.job, r.fire_time) for r in await all_runs(engine)] == [
        (INDEX_REBUILD, FIRE),
        (INDEX_REBUILD, FIRE + timedelta(days=1)),
        (VIEWS_REFRESH, FIRE),
    ]


async def test_concurrent_cart_reminder_fires_emit_one_event(engine, sessions) -> None:
    """Several replicas firing the hourly cart-reminders at one fire time: one event,
    whose id is the run id, carrying the thresholds."""
    results = await asyncio.gather(*(fire(sessions, JOBS[CART_REMINDERS]) for _ in range(4)))

    assert sum(r.created for r in results) == 1
    [(event, queued)] = await stored_events(engine)
    assert queued and event.id == run_id(CART_REMINDERS, FIRE)
    assert event.type == "scheduler.carts.reminders_requested"
    data = registry.decode(Envelope.model_validate(event.envelope))
    assert (data.idle_after_s, data.expire_after_s) == (86_400, 2_592_000)
    [run] = await all_runs(engine)
    assert (run.job, run.fire_time, run.event_type) == (CART_REMINDERS, FIRE, event.type)


# --- the lease -------------------------------------------------------------------------


def lease(engine: AsyncEngine, holder: str, ttl: float = 30) -> Lease:
    return Lease(engine, "test-lease", holder, ttl)


async def test_one_holder_at_a_time_until_the_lease_runs_out(engine) -> None:
    a, b = lease(engine, "a", ttl=0.5), lease(engine, "b", ttl=0.5)

    first = await a.acquire()
    assert first is not None and first.token == 1
    assert await b.acquire() is None, "b must wait while a's lease is valid"
    renewed = await a.renew(first)
    assert renewed is not None and renewed.expires_at > first.expires_at

    # a stops renewing: b gets the lease once it ran out (by the database clock)
    taken = await wait_for(b.acquire, what="b takes the expired lease")
    assert taken.token == 2, "a new tenure gets a new fencing token"
    assert await a.renew(first) is None, "a's old tenure is over"


async def test_release_hands_the_lease_over_at_once(engine) -> None:
    a, b = lease(engine, "a"), lease(engine, "b")
    tenure = await a.acquire()
    assert tenure is not None
    await a.release(tenure)
    assert await b.acquire() is not None


async def test_a_deposed_leader_cannot_fire(engine, sessions) -> None:
    """The fence runs in the fire's transaction, against the database clock."""
    a, b = lease(engine, "a", ttl=0.3), lease(engine, "b", ttl=30)
    old = await a.acquire()
    assert old is not None
    await wait_for(b.acquire, what="b takes over")

    async def fence(session: AsyncSession) -> bool:
        return await a.holds(session, old)

    with pytest.raises(NotLeader):
        await fire(sessions, JOBS[INDEX_REBUILD], fence=fence)
    assert await stored_events(engine) == []
    assert await all_runs(engine) == []


async def test_the_current_leader_passes_the_fence(engine, sessions) -> None:
    a = lease(engine, "a")
    tenure = await a.acquire()
    assert tenure is not None

    async def fence(session: AsyncSession) -> bool:
        return await a.holds(session, tenure)

    assert (await fire(sessions, JOBS[INDEX_REBUILD], fence=fence)).created


async def test_a_takeover_waits_for_a_fire_in_flight(engine, sessions) -> None:
    """The fence locks the lease row: a takeover queues behind a fire that passed the
    fence, even when the old lease runs out meanwhile, so the new leader sees that run."""
    a, b = lease(engine, "a", ttl=0.5), lease(engine, "b")
    tenure = await a.acquire()
    assert tenure is not None
    async with sessions() as session, session.begin():
        assert await a.holds(session, tenure)
        takeover = asyncio.create_task(_acquire_eventually(b))
        await wait_for(lambda: _waiting_on_a_lock(engine), what="b blocked on the lease row")
        await wait_for(lambda: _expired(engine, "a"), what="a's lease to run out")
        assert not takeover.done()
    new = await takeover
    assert new.holder == "b" and new.token == tenure.token + 1


async def _acquire_eventually(lease: Lease):
    return await wait_for(lease.acquire, what=f"{lease.holder} to get the lease")


async def _waiting_on_a_lock(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        query = text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database() AND query LIKE '%INSERT INTO scheduler.leases%'"
        )
        return bool((await conn.execute(query)).scalar_one())


async def _expired(engine: AsyncEngine, holder: str) -> bool:
    async with engine.connect() as conn:
        query = text(
            "SELECT expires_at < clock_timestamp() FROM scheduler.leases WHERE holder = :h"
        )
        return bool((await conn.execute(query, {"h": holder})).scalar_one())
