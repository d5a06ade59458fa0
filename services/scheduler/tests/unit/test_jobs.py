"""Schedule arithmetic, without waiting: fire times are computed from the triggers; the
settings refuse a bad schedule or retention policy at start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from marcus_contracts.events import scheduler as ev
from marcus_eventstore.retention import RetentionPolicy
from scheduler.jobs import (
    CART_REMINDERS,
    INDEX_REBUILD,
    STREAM_RETENTION,
    VIEWS_REFRESH,
    CronError,
    Job,
    default_jobs,
    parse_cron,
    run_id,
)
from scheduler.settings import SchedulerSettings

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
DAY = 86_400


def rebuild(cron: str = "0 3 * * *", tz: ZoneInfo = BERLIN) -> Job:
    return default_jobs(timezone=tz, index_rebuild_cron=cron, views_refresh_cron="0 * * * *")[
        INDEX_REBUILD
    ]


def test_rebuild_fires_at_three_in_the_configured_timezone() -> None:
    job = rebuild()
    fires = list(
        job.fire_times(datetime(2025, 1, 14, 12, tzinfo=UTC), datetime(2025, 1, 17, tzinfo=UTC))
    )
    assert [f.astimezone(BERLIN).hour for f in fires] == [3, 3]
    assert [f.astimezone(UTC) for f in fires] == [
        datetime(2025, 1, 15, 2, tzinfo=UTC),  # 03:00 CET = 02:00 UTC
        datetime(2025, 1, 16, 2, tzinfo=UTC),
    ]


def test_rebuild_stays_at_three_local_across_daylight_saving() -> None:
    """Berlin moves to CEST on 2025-03-30 at 02:00: 03:00 local is then 01:00 UTC."""
    job = rebuild()
    fires = list(
        job.fire_times(datetime(2025, 3, 28, 12, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC))
    )
    assert [f.astimezone(UTC).hour for f in fires] == [2, 1, 1]  # 29th CET, 30th, 31st CEST
    assert all(f.astimezone(BERLIN).hour == 3 for f in fires)


def test_same_expression_in_another_timezone_is_another_instant() -> None:
    after = datetime(2025, 6, 1, 12, tzinfo=UTC)
    berlin, new_york = rebuild(tz=BERLIN), rebuild(tz=NEW_YORK)
    assert berlin.next_fire_time(after) == datetime(2025, 6, 2, 1, tzinfo=UTC)
    assert new_york.next_fire_time(after) == datetime(2025, 6, 2, 7, tzinfo=UTC)


def test_next_fire_time_is_strictly_after() -> None:
    job = rebuild(tz=ZoneInfo("UTC"))
    at_three = datetime(2025, 1, 15, 3, tzinfo=UTC)
    assert job.next_fire_time(at_three) == at_three + timedelta(days=1)


def test_weekday_numbers_follow_crontab_not_apscheduler() -> None:
    """Crontab 0 is Sunday (APScheduler 3 alone would read it as Monday)."""
    monday = datetime(2025, 1, 13, tzinfo=UTC)
    sunday_job = rebuild("0 3 * * 0", ZoneInfo("UTC"))
    assert sunday_job.next_fire_time(monday).strftime("%a") == "Sun"
    weekdays = rebuild("0 3 * * 1-5", ZoneInfo("UTC"))
    days = {f.strftime("%a") for f in weekdays.fire_times(monday, monday + timedelta(days=7))}
    assert days == {"Mon", "Tue", "Wed", "Thu", "Fri"}
    seven = rebuild("0 3 * * 5-7", ZoneInfo("UTC"))
    days = {f.strftime("%a") for f in seven.fire_times(monday, monday + timedelta(days=7))}
    assert days == {"Fri", "Sat", "Sun"}
    named = rebuild("0 3 * * sat,sun", ZoneInfo("UTC"))
    assert named.next_fire_time(monday).strftime("%a") == "Sat"


def test_six_fields_take_seconds_first() -> None:
    job = rebuild("*/15 * * * * *", ZoneInfo("UTC"))
    start = datetime(2025, 1, 1, tzinfo=UTC)
    fires = list(job.fire_times(start, start + timedelta(seconds=59)))
    assert [f.second for f in fires] == [0, 15, 30, 45]


@pytest.mark.parametrize(
    "expression", ["0 3 * *", "0 3 * * * * *", "61 3 * * *", "0 25 * * *", "0 3 * * 8", "x"]
)
def test_bad_expressions_are_refused_with_a_reason(expression: str) -> None:
    with pytest.raises(CronError, match=r"cron|day of week"):
        parse_cron(expression, BERLIN)


def test_settings_refuse_a_bad_cron_or_timezone_at_start() -> None:
    with pytest.raises(ValidationError, match="expected 5 fields"):
        SchedulerSettings(index_rebuild_cron="every night")
    with pytest.raises(ValidationError, match="unknown timezone"):
        SchedulerSettings(schedule_timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="shorter than"):
        SchedulerSettings(lease_ttl_seconds=1, lease_poll_seconds=2)


def test_run_id_depends_on_job_and_instant_only() -> None:
    fire = datetime(2025, 1, 15, 3, tzinfo=BERLIN)
    same_instant = fire.astimezone(NEW_YORK)
    assert run_id(INDEX_REBUILD, fire) == run_id(INDEX_REBUILD, same_instant)
    assert run_id(INDEX_REBUILD, fire) != run_id(VIEWS_REFRESH, fire)
    assert run_id(INDEX_REBUILD, fire) != run_id(INDEX_REBUILD, fire + timedelta(days=1))
    with pytest.raises(ValueError, match="timezone-aware"):
        run_id(INDEX_REBUILD, datetime(2025, 1, 15, 3))


def test_missed_fires_coalesce_into_the_latest_within_the_grace_window() -> None:
    every_minute = rebuild("* * * * *", ZoneInfo("UTC"))
    now = datetime(2025, 1, 15, 3, 10, 30, tzinfo=UTC)
    assert every_minute.latest_due(now, timedelta(hours=1)) == datetime(
        2025, 1, 15, 3, 10, tzinfo=UTC
    )
    nightly = rebuild()  # 03:00 Berlin = 02:00 UTC
    back_at = datetime(2025, 1, 15, 2, 40, tzinfo=UTC)
    assert nightly.latest_due(back_at, timedelta(hours=1)) == datetime(2025, 1, 15, 2, tzinfo=UTC)
    assert nightly.latest_due(back_at, timedelta(minutes=30)) is None  # missed by too much
    assert nightly.latest_due(datetime(2025, 1, 15, 2, tzinfo=UTC), timedelta(minutes=1)) == (
        datetime(2025, 1, 15, 2, tzinfo=UTC)
    )


def test_fire_events_carry_job_fire_time_and_requester() -> None:
    jobs = default_jobs(
        timezone=BERLIN,
        index_rebuild_cron="0 3 * * *",
        views_refresh_cron="0 * * * *",
        views=["assistant.best_sellers"],
    )
    fire = datetime(2025, 1, 15, 3, tzinfo=BERLIN)
    rebuild_event = jobs[INDEX_REBUILD].make_event(fire, "schedule")
    assert isinstance(rebuild_event, ev.IndexRebuildRequested)
    assert rebuild_event.fire_time == datetime(2025, 1, 15, 2, tzinfo=UTC)
    views_event = jobs[VIEWS_REFRESH].make_event(fire, "ops")
    assert isinstance(views_event, ev.ViewsRefreshRequested)
    assert views_event.views == ["assistant.best_sellers"]
    assert views_event.requested_by == "ops"
    assert jobs[INDEX_REBUILD].reported_by == "indexer.index.rebuilt"
    assert jobs[VIEWS_REFRESH].reported_by is None


def test_cart_reminders_fire_hourly_by_default_with_the_default_thresholds() -> None:
    jobs = SchedulerSettings(schedule_timezone="Europe/Berlin").jobs()
    job = jobs[CART_REMINDERS]
    assert (job.cron, job.event, job.reported_by) == (
        "0 * * * *",
        ev.CartRemindersRequested,
        None,
    )
    start = datetime(2025, 1, 15, 10, 30, tzinfo=UTC)
    fires = list(job.fire_times(start, start + timedelta(hours=3)))
    assert fires == [datetime(2025, 1, 15, h, tzinfo=UTC) for h in (11, 12, 13)]
    event = job.make_event(fires[0], "schedule")
    assert isinstance(event, ev.CartRemindersRequested)
    assert (event.job, event.fire_time, event.requested_by) == (
        CART_REMINDERS,
        fires[0],
        "schedule",
    )
    assert (event.idle_after_s, event.expire_after_s) == (86_400, 30 * 86_400)


def test_cart_reminders_schedule_and_thresholds_come_from_the_settings() -> None:
    settings = SchedulerSettings(
        cart_reminders_cron="*/15 * * * *",
        cart_idle_after_seconds=3_600,
        cart_expire_after_seconds=7 * 86_400,
    )
    job = settings.jobs()[CART_REMINDERS]
    assert job.cron == "*/15 * * * *"
    event = job.make_event(datetime(2025, 1, 15, 10, 15, tzinfo=UTC), "ops")
    assert isinstance(event, ev.CartRemindersRequested)
    assert (event.idle_after_s, event.expire_after_s, event.requested_by) == (
        3_600,
        7 * 86_400,
        "ops",
    )
    assert run_id(CART_REMINDERS, datetime(2025, 1, 15, 10, 15, tzinfo=UTC)) != run_id(
        VIEWS_REFRESH, datetime(2025, 1, 15, 10, 15, tzinfo=UTC)
    )


def test_settings_refuse_bad_cart_reminder_settings() -> None:
    with pytest.raises(ValidationError, match="expected 5 fields"):
        SchedulerSettings(cart_reminders_cron="hourly")
    with pytest.raises(ValidationError, match="longer than cart_idle_after_seconds"):
        SchedulerSettings(cart_idle_after_seconds=86_400, cart_expire_after_seconds=3_600)
    with pytest.raises(ValidationError, match="greater than 0"):
        SchedulerSettings(cart_idle_after_seconds=0)


def test_the_defaults_keep_events_less_long_than_the_ledgers_and_dead_letters_a_month() -> None:
    """A group reading a stream from its start must never meet an event its ledger has
    forgotten: the stream's age limit plus one job interval stays below the ledger's."""
    settings = SchedulerSettings()
    assert settings.stream_retention_interval == 900
    retention = settings.retention()
    events = retention.policy_for("events.catalog")
    assert events == RetentionPolicy(max_age_s=6 * DAY)
    assert events.max_age_s is not None
    assert events.max_age_s + settings.stream_retention_interval < settings.ledger_retention_s
    assert retention.policy_for("dlq.indexer") == RetentionPolicy(max_age_s=30 * DAY)
    job = settings.housekeeping()[STREAM_RETENTION]
    assert job.interval_s == 900
    after = datetime(2025, 1, 15, 10, 7, tzinfo=UTC)
    assert job.next_fire_time(after) == datetime(2025, 1, 15, 10, 15, tzinfo=UTC)
    assert SchedulerSettings(stream_retention_interval=0).housekeeping() == {}


def test_a_bad_retention_setting_stops_the_scheduler_at_start() -> None:
    with pytest.raises(ValidationError, match=r"STREAM_RETENTION: events\.\*: '7w' is neither"):
        SchedulerSettings(stream_retention="events.*=7w;dlq.*=30d")
    with pytest.raises(ValidationError, match="expected pattern=policy"):
        SchedulerSettings(stream_retention="7d")
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        SchedulerSettings(stream_retention_interval=-1)
