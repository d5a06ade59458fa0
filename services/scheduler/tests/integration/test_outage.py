"""PostgreSQL unreachable at the fire time (through a proxy the test unplugs; the
shared server keeps running): the fire is not lost, it happens once when it returns."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import make_url

from scheduler.jobs import INDEX_REBUILD
from scheduler.main import create_app
from services.scheduler.tests.support import all_runs
from tests.support.proxy import TcpProxy
from tests.support.servers import serve_app, wait_for

pytestmark = pytest.mark.fault


async def _until(moment: datetime) -> None:
    """Wait for a wall-clock moment (the fire time is wall-clock by nature)."""
    delay = (moment - datetime.now(UTC)).total_seconds()
    if delay > 0:
        await asyncio.sleep(delay)


async def test_a_fire_during_a_database_outage_happens_once_it_is_back(
    engine, settings, scheduler_stream
) -> None:
    url = make_url(settings.database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.up()
    fire = (datetime.now(UTC) + timedelta(seconds=6)).replace(microsecond=0)
    settings = settings.model_copy(
        update={
            "database_url": url.set(host="127.0.0.1", port=proxy.port).render_as_string(
                hide_password=False
            ),
            "scheduler_enabled": True,
            "schedule_timezone": "UTC",
            "index_rebuild_cron": f"{fire.second} {fire.minute} {fire.hour} * * *",
            "views_refresh_cron": "0 0 29 2 *",
            "cart_reminders_cron": "0 0 29 2 *",
            "misfire_grace_seconds": 600,
        }
    )
    app = create_app(settings)
    try:
        async with serve_app(app):
            await wait_for(
                lambda: app.state.scheduling.leadership.is_leader, within=15, what="leader"
            )
            await _until(fire - timedelta(seconds=2))
            await proxy.down()
            await _until(fire + timedelta(seconds=3))  # the fire came and failed
            assert await all_runs(engine) == []
            restored_at = datetime.now(UTC)
            await proxy.up()

            await wait_for(
                lambda: (
                    app.state.scheduling.runner.last_attempt.get(INDEX_REBUILD) == (fire, "emitted")
                ),
                within=30,
                what="the fire once the database is back",
            )
            [run] = await all_runs(engine)
            assert run.fire_time == fire and run.fired_at >= restored_at
            [event] = await wait_for(scheduler_stream.fires, what="its event published")
            assert event.id == run.id
    finally:
        await proxy.down()
