"""The scheduler app with scheduling on (real APScheduler, lease, relay): a fire missed
while no replica ran is caught up once on start, within the grace window only."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from scheduler.jobs import INDEX_REBUILD
from scheduler.main import create_app
from scheduler.settings import SchedulerSettings
from services.scheduler.tests.support import all_runs
from tests.support.servers import serve_app, wait_for

BERLIN = ZoneInfo("Europe/Berlin")
NEVER_SOON = "0 0 29 2 *"  # 29 February: no fire anywhere near the test


def nightly_at(moment: datetime) -> str:
    """A daily cron firing at `moment`'s wall-clock minute in Berlin."""
    local = moment.astimezone(BERLIN)
    return f"{local.minute} {local.hour} * * *"


def scheduling_on(settings: SchedulerSettings, **changes) -> SchedulerSettings:
    return settings.model_copy(update={"scheduler_enabled": True, **changes})


def nightly_rebuild_missed_at(settings: SchedulerSettings, missed: datetime) -> SchedulerSettings:
    """Scheduling on, the nightly rebuild at `missed`'s minute, nothing else soon."""
    return scheduling_on(
        settings,
        index_rebuild_cron=nightly_at(missed),
        views_refresh_cron=NEVER_SOON,
        cart_reminders_cron=NEVER_SOON,
        misfire_grace_seconds=3600,
    )


async def test_a_fire_missed_within_the_grace_window_runs_once(
    engine, settings, scheduler_stream
) -> None:
    """Down at the fire time, back 5 minutes later: one run, also after another restart."""
    missed = (datetime.now(UTC) - timedelta(minutes=5)).replace(second=0, microsecond=0)
    settings = nightly_rebuild_missed_at(settings, missed)

    app = create_app(settings)
    async with serve_app(app):
        await wait_for(lambda: _attempt(app) == (missed, "emitted"), what="the catch-up fire")
        [run] = await all_runs(engine)
        assert (run.job, run.fire_time, run.requested_by) == (INDEX_REBUILD, missed, "schedule")
        next_run = app.state.scheduling.runner.next_run_times()[INDEX_REBUILD]
        assert next_run == missed + timedelta(days=1), "then back on its daily schedule"
        [event] = await wait_for(scheduler_stream.fires, what="the event published")
        assert event.id == run.id

    again = create_app(settings)  # a restart, another holder: finds the run, emits nothing
    async with serve_app(again):
        await wait_for(lambda: _attempt(again) == (missed, "duplicate"), what="the re-check")
    assert len(await all_runs(engine)) == 1
    assert len(await scheduler_stream.fires()) == 1


async def test_a_fire_missed_beyond_the_grace_window_is_skipped(engine, settings) -> None:
    missed = (datetime.now(UTC) - timedelta(hours=2)).replace(second=0, microsecond=0)
    settings = nightly_rebuild_missed_at(settings, missed)

    app = create_app(settings)
    async with serve_app(app):
        await wait_for(lambda: _leads(app), what="leadership")
        next_run = app.state.scheduling.runner.next_run_times()[INDEX_REBUILD]
        assert next_run == missed + timedelta(days=1), "no catch-up was scheduled"
    assert await all_runs(engine) == []


async def test_a_clean_shutdown_hands_over_at_once(engine, settings) -> None:
    """The leader releases its lease on SIGTERM/shutdown: no waiting for the TTL."""
    settings = scheduling_on(
        settings,
        index_rebuild_cron=NEVER_SOON,
        views_refresh_cron=NEVER_SOON,
        cart_reminders_cron=NEVER_SOON,
        lease_ttl_seconds=600,
    )
    first, second = create_app(settings), create_app(settings)
    async with contextlib.AsyncExitStack() as stack:
        async with serve_app(first):
            await wait_for(lambda: _leads(first), what="the first replica to lead")
            await stack.enter_async_context(serve_app(second))
            await wait_for(lambda: _has_state(second), what="the second replica standing by")
            assert not _leads(second)
        await wait_for(lambda: _leads(second), within=5, what="the standby to take over")


def _has_state(app) -> bool:
    return getattr(app.state, "scheduling", None) is not None


def _attempt(app):
    scheduling = getattr(app.state, "scheduling", None)
    return scheduling.runner.last_attempt.get(INDEX_REBUILD) if scheduling else None


def _leads(app) -> bool:
    scheduling = getattr(app.state, "scheduling", None)
    return bool(scheduling and scheduling.leadership.is_leader and scheduling.runner.running)
