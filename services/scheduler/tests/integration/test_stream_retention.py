"""The `stream-retention` housekeeping job through the real scheduler: the app elects
itself through the lease in PostgreSQL, APScheduler runs the job on its interval, and it
trims real Redis streams to STREAM_RETENTION, never an entry a group has not
acknowledged; the admin API lists it."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from prometheus_client import REGISTRY

from scheduler.housekeeping import StreamRetentionJob
from scheduler.jobs import STREAM_RETENTION
from scheduler.main import create_app
from scheduler.settings import SchedulerSettings
from tests.support.servers import serve_app, wait_for

NEVER_SOON = "0 0 29 2 *"
DAY = 86_400


def _ms_ago(days: float) -> int:
    return int((time.time() - days * DAY) * 1000)


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_the_leader_trims_every_stream_to_its_retention(
    engine, settings, redis_client, stream_prefix
) -> None:
    p = stream_prefix
    catalog, pricing, dlq = f"{p}events.catalog", f"{p}events.pricing", f"{p}dlq.indexer"
    old = [
        await redis_client.xadd(catalog, {"event": b"{}"}, id=f"{_ms_ago(d)}-0")
        for d in (20, 19, 18, 17)
    ]
    recent = await redis_client.xadd(catalog, {"event": b"{}"})
    await redis_client.xgroup_create(catalog, "indexer", id="0")
    await redis_client.xreadgroup("indexer", "i-1", {catalog: ">"}, count=3)
    await redis_client.xack(catalog, "indexer", old[0], old[1])  # old[2] stays pending
    await redis_client.xgroup_create(catalog, "orders", id="$")  # read everything
    for d in (40, 35):  # no group: nobody is known to have consumed it
        await redis_client.xadd(pricing, {"event": b"{}"}, id=f"{_ms_ago(d)}-0")
    for d in (45, 31, 29):
        await redis_client.xadd(dlq, {"event": b"{}"}, id=f"{_ms_ago(d)}-0")
    trimmed_before = _sample("scheduler_stream_trimmed_entries_total", stream="events.catalog")

    settings = settings.model_copy(
        update={
            "scheduler_enabled": True,
            "index_rebuild_cron": NEVER_SOON,
            "views_refresh_cron": NEVER_SOON,
            "cart_reminders_cron": NEVER_SOON,
            "stream_retention": "events.*=7d;dlq.*=30d;events.pricing=1d",
            "stream_retention_interval": 1,
        }
    )
    app = create_app(settings)
    async with serve_app(app):
        await wait_for(
            lambda: _attempt(app) and _attempt(app)[1] == "done",
            within=60,
            what="a stream-retention run on the leader",
        )
        assert app.state.scheduling.leadership.is_leader

        entries = [entry_id for entry_id, _ in await redis_client.xrange(catalog)]
        assert entries == [old[2], old[3], recent], "pending and unread entries are kept"
        assert (await redis_client.xpending(catalog, "indexer"))["pending"] == 1
        assert await redis_client.xlen(pricing) == 2, "a stream without a group is untouched"
        assert await redis_client.xlen(dlq) == 1, "dead letters older than 30 days go"

        trimmed = _sample("scheduler_stream_trimmed_entries_total", stream="events.catalog")
        assert trimmed - trimmed_before == 2
        assert _sample("scheduler_stream_length", stream="events.catalog") == 3
        assert _sample("scheduler_stream_length", stream="dlq.indexer") == 1
        assert _sample("scheduler_stream_memory_bytes", stream="dlq.indexer") > 0
        age = _sample("scheduler_stream_oldest_entry_age_seconds", stream="events.pricing")
        assert age >= 35 * DAY
        done = _sample("scheduler_fires_total", job=STREAM_RETENTION, result="done")
        assert done >= 1


async def test_the_admin_api_lists_the_job_and_refuses_to_fire_it(client, admin_headers) -> None:
    response = await client.get("/api/v1/admin/jobs", headers=admin_headers)
    assert response.status_code == 200, response.text
    job = next(j for j in response.json()["items"] if j["name"] == STREAM_RETENTION)
    assert job["kind"] == "housekeeping" and job["interval_seconds"] == 900
    assert job["event_type"] is None and job["cron"] is None
    next_run = datetime.fromisoformat(job["next_run_at"])
    assert next_run > datetime.now(UTC) and next_run.minute % 15 == 0 and next_run.second == 0

    fired = await client.post(f"/api/v1/admin/jobs/{STREAM_RETENTION}/run", headers=admin_headers)
    assert fired.status_code == 409, fired.text
    assert "make trim-streams" in fired.json()["detail"]
    runs = await client.get(f"/api/v1/admin/jobs/{STREAM_RETENTION}/runs", headers=admin_headers)
    assert runs.status_code == 200 and runs.json()["items"] == []


async def test_make_trim_streams_reports_what_the_job_then_trims(
    redis_client, redis_url, stream_prefix, monkeypatch, capsys, caplog
) -> None:
    """Operators see the job's numbers: `make trim-streams` (a report) reads the same
    STREAM_RETENTION and applies the same module."""
    import asyncio

    from scripts.streams import main

    p = stream_prefix
    events, dlq = f"{p}events.orders", f"{p}dlq.notifier"
    ids = [
        await redis_client.xadd(events, {"event": b"{}"}, id=f"{_ms_ago(d)}-0")
        for d in (9, 8, 3, 2)
    ]
    await redis_client.xgroup_create(events, "notifier", id="0")
    await redis_client.xreadgroup("notifier", "n-1", {events: ">"}, count=3)
    await redis_client.xack(events, "notifier", *ids[:3])
    for d in (50, 40, 1):
        await redis_client.xadd(dlq, {"event": b"{}"}, id=f"{_ms_ago(d)}-0")
    setting = "events.*=1d;events.orders=2;dlq.*=30d"
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("STREAM_PREFIX", p)
    monkeypatch.setenv("STREAM_RETENTION", setting)

    await asyncio.to_thread(main, ["trim"])
    report = capsys.readouterr().out
    assert f"{events}: would trim 2 (retention 2 entries;" in report
    assert f"{dlq}: would trim 2 (retention 30d;" in report
    assert (await redis_client.xlen(events), await redis_client.xlen(dlq)) == (4, 3)

    job = StreamRetentionJob(redis_client, p, SchedulerSettings().retention())
    with caplog.at_level(logging.INFO, logger="marcus.scheduler"):
        outcomes = await job.run(datetime.now(UTC))
    [line] = [r.getMessage() for r in caplog.records if r.name == "marcus.scheduler"]
    assert line == (
        "stream retention: 2 streams, 4 entries trimmed: dlq.notifier -2, events.orders -2"
    ), "one line per run"
    assert {o.stream: o.removed for o in outcomes} == {events: 2, dlq: 2}
    assert [entry_id for entry_id, _ in await redis_client.xrange(events)] == ids[2:]

    await asyncio.to_thread(main, ["trim", "--apply"])
    assert f"{events}: trimmed 0" in capsys.readouterr().out


async def test_a_run_without_redis_fails_alone_and_the_next_interval_tries_again() -> None:
    """Redis not answering: the pass is logged and counted as failed, the schedule goes on."""
    from datetime import timedelta

    import redis.asyncio as aioredis

    from marcus_eventstore.retention import parse_retention
    from scheduler.jobs import Housekeeping
    from scheduler.runner import JobRunner

    dead = aioredis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=1)
    job = StreamRetentionJob(dead, "", parse_retention("events.*=7d"))
    task = Housekeeping(STREAM_RETENTION, 1, "test")
    failed_before = _sample("scheduler_fires_total", job=STREAM_RETENTION, result="failed")

    async def act(task: Housekeeping, now: datetime) -> object:
        return await job.run(now)

    runner = JobRunner(
        {}, _never_fired, timedelta(minutes=5), housekeeping={task.name: task}, act=act
    )
    await runner.start()
    try:
        await wait_for(
            lambda: (
                _sample("scheduler_fires_total", job=STREAM_RETENTION, result="failed")
                >= failed_before + 2
            ),
            within=60,
            what="two failed passes, one per interval",
        )
        assert runner.last_attempt[STREAM_RETENTION][1] == "failed"
        assert runner.running
    finally:
        await runner.stop()
        await dead.aclose()


async def _never_fired(job, fire_time) -> bool:
    raise AssertionError("no cron job in this runner")


def _attempt(app):
    scheduling = getattr(app.state, "scheduling", None)
    return scheduling.runner.last_attempt.get(STREAM_RETENTION) if scheduling else None
