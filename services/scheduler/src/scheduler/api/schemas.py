"""Response bodies of the admin API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from scheduler.jobs import Job

Outcome = Literal["pending", "emitted", "succeeded", "failed"]


def outcome_of(status: str, job: Job | None) -> Outcome:
    """`pending` waits for a report; `emitted` is final for jobs nobody reports on."""
    if status == "succeeded":
        return "succeeded"
    if status == "failed":
        return "failed"
    return "pending" if job is not None and job.reported_by else "emitted"


class RunOut(BaseModel):
    id: UUID = Field(description="run id, also the id of the emitted event")
    job: str
    fire_time: datetime = Field(description="scheduled fire time (or the run-now request)")
    requested_by: str = Field(description='"schedule" or the admin who ran it now')
    event_type: str
    fired_at: datetime
    outcome: Outcome
    outcome_at: datetime | None = None
    outcome_detail: str | None = None
    report_id: UUID | None = Field(default=None, description="id of the outcome report event")

    @classmethod
    def from_row(cls, row: Any, job: Job | None) -> RunOut:
        return cls(
            id=row.id,
            job=row.job,
            fire_time=row.fire_time,
            requested_by=row.requested_by,
            event_type=row.event_type,
            fired_at=row.fired_at,
            outcome=outcome_of(row.status, job),
            outcome_at=row.outcome_at,
            outcome_detail=row.outcome_detail,
            report_id=row.report_id,
        )


class JobOut(BaseModel):
    name: str
    kind: Literal["event", "housekeeping"] = Field(
        default="event",
        description="event: each fire emits an event, recorded as a run; housekeeping: "
        "the leader does the work itself on an interval (no event, no runs)",
    )
    event_type: str | None = Field(description="the event a fire emits (None: housekeeping)")
    cron: str | None = Field(description="when it fires (None: on an interval)")
    interval_seconds: int | None = Field(default=None, description="housekeeping: how often")
    timezone: str
    next_run_at: datetime | None
    reported_by: str | None = Field(description="event type that reports the outcome back")
    description: str | None = None
    last_run: RunOut | None
    last_outcome: Outcome | None


class LeaderOut(BaseModel):
    holder: str
    acquired_at: datetime
    expires_at: datetime
    this_replica: bool


class JobList(BaseModel):
    items: list[JobOut]
    leader: LeaderOut | None = Field(description="the replica firing on schedule, if any")


class RunList(BaseModel):
    items: list[RunOut]
