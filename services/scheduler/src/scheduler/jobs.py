"""The scheduler's jobs and their time arithmetic. Pure logic, no I/O.

A job is a cron expression in a timezone plus the event its fire emits. Everything the
replicas must agree on is derived from (job, scheduled fire time): the run id, which is
also the id of the emitted event, so a fire seen twice (two replicas, a restart, a
catch-up after a takeover) is one run and one event.

A housekeeping job (`stream-retention`) is the platform's own upkeep: the lease holder
runs it itself on an interval, with no event and no run row (ADR 0013); running it twice
is harmless, so it needs neither.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from marcus_contracts.events import scheduler as ev

RUN_NAMESPACE = uuid.UUID("5b0f3f2e-6c1d-4a53-9a55-7f0c3b2e9d41")
"""uuid5 namespace of run ids; changing it would give old fire times new ids."""

INDEX_REBUILD = "index-rebuild"
VIEWS_REFRESH = "views-refresh"
CART_REMINDERS = "cart-reminders"
STREAM_RETENTION = "stream-retention"

FireEvent = ev.IndexRebuildRequested | ev.ViewsRefreshRequested | ev.CartRemindersRequested
FIRE_EVENTS: tuple[type[FireEvent], ...] = (
    ev.IndexRebuildRequested,
    ev.ViewsRefreshRequested,
    ev.CartRemindersRequested,
)
"""Events a job's fire emits (their id is the run id)."""

DAY_S = 86_400

_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DOW_ITEM = re.compile(r"^(?:(\*)|(\d)(?:-(\d))?)(?:/(\d+))?$")


class CronError(ValueError):
    """A cron expression or timezone that cannot be scheduled; the message says why."""


def _crontab_day_of_week(field: str) -> str:
    """Crontab weekday numbers (0 or 7 = Sunday) as names, which APScheduler 3 reads
    unambiguously: its own numbers start at Monday, so `0` would silently mean Monday."""
    names: list[str] = []
    for item in field.split(","):
        match = _DOW_ITEM.match(item)
        if match is None:
            names.append(item)  # names (mon-fri) and anything else: APScheduler checks it
            continue
        star, first, last, step = match.groups()
        if star and not step:
            return "*"
        start = 0 if star else int(first)
        end = 6 if star else int(last if last is not None else first)
        if end > 7 or start > end:
            raise CronError(f"day of week {item!r} is not a crontab range (0-7, 0 = Sunday)")
        if last is None and not star and not step:
            names.append(_DAY_NAMES[start])
            continue
        names.extend(_DAY_NAMES[d] for d in range(start, end + 1, int(step or 1)))
    return ",".join(dict.fromkeys(names))


def parse_cron(expression: str, timezone: tzinfo) -> CronTrigger:
    """A trigger for a crontab expression (`minute hour day month weekday`), or with a
    leading seconds field (6 fields), evaluated in `timezone` (daylight saving included)."""
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise CronError(f"cron {expression!r}: expected 5 fields (or 6 with seconds first)")
    second = fields[0] if len(fields) == 6 else "0"
    minute, hour, day, month, day_of_week = fields[-5:]
    try:
        return CronTrigger(
            second=second,
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_crontab_day_of_week(day_of_week),
            timezone=timezone,
        )
    except ValueError as exc:
        raise CronError(f"cron {expression!r}: {exc}") from None


@dataclass(frozen=True)
class Job:
    name: str
    cron: str
    timezone: tzinfo
    event: type[FireEvent]
    reported_by: str | None = None
    """Event type that reports the outcome back (None: firing is the whole job)."""
    views: tuple[str, ...] = ()
    idle_after_s: int = DAY_S
    """cart-reminders: a cart untouched this long (with lines) gets a reminder."""
    expire_after_s: int = 30 * DAY_S
    """cart-reminders: a cart untouched this long is cleared."""

    @property
    def trigger(self) -> CronTrigger:
        return parse_cron(self.cron, self.timezone)

    def make_event(self, fire_time: datetime, requested_by: str) -> FireEvent:
        fields = {"job": self.name, "fire_time": normalize(fire_time), "requested_by": requested_by}
        if self.event is ev.ViewsRefreshRequested:
            return ev.ViewsRefreshRequested(**fields, views=list(self.views))
        if self.event is ev.CartRemindersRequested:
            return ev.CartRemindersRequested(
                **fields, idle_after_s=self.idle_after_s, expire_after_s=self.expire_after_s
            )
        return ev.IndexRebuildRequested(**fields)

    def next_fire_time(self, after: datetime) -> datetime | None:
        """The first fire strictly after `after`."""
        fire: datetime | None = self.trigger.get_next_fire_time(None, after + _TICK)
        return fire

    def fire_times(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """Fire times in [start, end], in order."""
        trigger = self.trigger
        fire = trigger.get_next_fire_time(None, start)
        while fire is not None and fire <= end:
            yield fire
            fire = trigger.get_next_fire_time(fire, fire + _TICK)

    def latest_due(self, now: datetime, grace: timedelta) -> datetime | None:
        """The most recent fire time within the grace window (now - grace, now], if any.

        Missed fires coalesce into this one: a scheduler back after an outage runs the
        latest missed fire once, never once per missed minute.
        """
        latest = None
        for fire in self.fire_times(now - grace + _TICK, now):
            latest = fire
        return latest


_TICK = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Housekeeping:
    """A job the lease holder runs itself every `interval_s` seconds: no event, no run."""

    name: str
    interval_s: int
    description: str

    @property
    def trigger(self) -> IntervalTrigger:
        """Anchored at the epoch: every replica computes the same times (every 15
        minutes is :00, :15, :30, :45), so any of them can say when it runs next."""
        return IntervalTrigger(seconds=self.interval_s, start_date=_EPOCH, timezone=UTC)

    def next_fire_time(self, after: datetime) -> datetime | None:
        """The first run strictly after `after`."""
        fire: datetime | None = self.trigger.get_next_fire_time(None, after + _TICK)
        return fire


def normalize(moment: datetime) -> datetime:
    """The instant in UTC: the same fire computed in any timezone yields the same id."""
    if moment.tzinfo is None:
        raise ValueError("fire times must be timezone-aware")
    return moment.astimezone(UTC)


def run_id(job: str, fire_time: datetime) -> uuid.UUID:
    """Deterministic id of the run (and of its event) for `job` at `fire_time`."""
    return uuid.uuid5(RUN_NAMESPACE, f"{job}@{normalize(fire_time).isoformat()}")


def default_jobs(
    *,
    timezone: tzinfo,
    index_rebuild_cron: str,
    views_refresh_cron: str,
    views: Sequence[str] = (),
    rebuild_reported_by: str | None = "indexer.index.rebuilt",
    cart_reminders_cron: str = "0 * * * *",
    cart_idle_after_s: int = DAY_S,
    cart_expire_after_s: int = 30 * DAY_S,
) -> dict[str, Job]:
    """Every job the scheduler fires. cart-reminders has no reporter: the orders service
    records what it did (`orders.cart.abandoned`, `orders.cart.cleared`) as cart events."""
    jobs = [
        Job(
            INDEX_REBUILD,
            index_rebuild_cron,
            timezone,
            ev.IndexRebuildRequested,
            reported_by=rebuild_reported_by,
        ),
        Job(
            VIEWS_REFRESH,
            views_refresh_cron,
            timezone,
            ev.ViewsRefreshRequested,
            views=tuple(views),
        ),
        Job(
            CART_REMINDERS,
            cart_reminders_cron,
            timezone,
            ev.CartRemindersRequested,
            idle_after_s=cart_idle_after_s,
            expire_after_s=cart_expire_after_s,
        ),
    ]
    for job in jobs:
        job.trigger  # noqa: B018 - refuse a bad expression at start, not at 03:00
    return {job.name: job for job in jobs}


def housekeeping_jobs(*, stream_retention_interval_s: int) -> dict[str, Housekeeping]:
    """The housekeeping the lease holder runs itself; an interval of 0 leaves a job out."""
    jobs = []
    if stream_retention_interval_s > 0:
        jobs.append(
            Housekeeping(
                STREAM_RETENTION,
                stream_retention_interval_s,
                "trims every events.* and dlq.* stream to its STREAM_RETENTION policy,"
                " never an entry a consumer group has not acknowledged",
            )
        )
    return {job.name: job for job in jobs}
