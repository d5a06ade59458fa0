"""Scheduler settings: the shared ones plus the schedule, the misfire window and the lease."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from marcus_eventstore.retention import (
    DEFAULT_RETENTION,
    Retention,
    RetentionError,
    parse_retention,
)
from marcus_web.settings import ServiceSettings
from scheduler.jobs import (
    CronError,
    Housekeeping,
    Job,
    default_jobs,
    housekeeping_jobs,
    parse_cron,
)

SERVICE = "scheduler"
SCHEMA = "scheduler"


class SchedulerSettings(ServiceSettings):
    port: int = 8005

    schedule_timezone: str = "UTC"
    """IANA zone the cron expressions are read in (e.g. Europe/Berlin): 03:00 is local."""
    index_rebuild_cron: str = "0 3 * * *"
    views_refresh_cron: str = "0 * * * *"
    views_refresh_views: list[str] = Field(default_factory=list)
    """Views named in the refresh event; empty asks every service to refresh all of its own."""
    cart_reminders_cron: str = "0 * * * *"
    """When `scheduler.carts.reminders_requested` fires (orders finds idle carts)."""
    cart_idle_after_seconds: int = Field(default=86_400, gt=0)
    """A cart untouched this long (with lines) gets one reminder per idle period."""
    cart_expire_after_seconds: int = Field(default=2_592_000, gt=0)
    """A cart untouched this long is cleared (30 days)."""
    stream_retention: str = DEFAULT_RETENTION
    """Retention per stream (`marcus_eventstore.retention`): `events.*=6d;dlq.*=30d`;
    patterns without STREAM_PREFIX, the most specific wins; `keep` never trims."""
    stream_retention_interval: int = Field(default=900, ge=0)
    """Seconds between two `stream-retention` runs on the lease holder; 0: no such job."""
    misfire_grace_seconds: int = Field(default=3600, gt=0)
    """A fire missed by less than this (scheduler down, takeover) still runs, once."""

    scheduler_enabled: bool = True
    """Compete for the lease and fire jobs; false leaves an API-only replica."""
    lease_ttl_seconds: float = Field(default=15.0, gt=0)
    """A dead leader's lease runs out after this; a standby takes over then."""
    lease_poll_seconds: float = Field(default=1.0, gt=0)
    """How often a standby tries to take the lease."""

    @field_validator("schedule_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r} (use an IANA name)") from None
        return value

    @field_validator("index_rebuild_cron", "views_refresh_cron", "cart_reminders_cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        try:
            parse_cron(value, ZoneInfo("UTC"))
        except CronError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("stream_retention")
    @classmethod
    def _valid_retention(cls, value: str) -> str:
        try:
            parse_retention(value)
        except RetentionError as exc:
            raise ValueError(f"STREAM_RETENTION: {exc}") from None
        return value

    @model_validator(mode="after")
    def _renewal_fits_in_the_lease(self) -> SchedulerSettings:
        if self.lease_poll_seconds >= self.lease_ttl_seconds:
            raise ValueError("lease_poll_seconds must be shorter than lease_ttl_seconds")
        return self

    @model_validator(mode="after")
    def _reminded_before_cleared(self) -> SchedulerSettings:
        if self.cart_expire_after_seconds <= self.cart_idle_after_seconds:
            raise ValueError(
                "cart_expire_after_seconds must be longer than cart_idle_after_seconds"
                " (a cart is reminded before it is cleared)"
            )
        return self

    @property
    def grace(self) -> timedelta:
        return timedelta(seconds=self.misfire_grace_seconds)

    def jobs(self) -> dict[str, Job]:
        return default_jobs(
            timezone=ZoneInfo(self.schedule_timezone),
            index_rebuild_cron=self.index_rebuild_cron,
            views_refresh_cron=self.views_refresh_cron,
            views=self.views_refresh_views,
            cart_reminders_cron=self.cart_reminders_cron,
            cart_idle_after_s=self.cart_idle_after_seconds,
            cart_expire_after_s=self.cart_expire_after_seconds,
        )

    def retention(self) -> Retention:
        return parse_retention(self.stream_retention)

    def housekeeping(self) -> dict[str, Housekeeping]:
        return housekeeping_jobs(stream_retention_interval_s=self.stream_retention_interval)
