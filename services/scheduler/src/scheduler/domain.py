"""The scheduler's aggregate: one run of a job at one scheduled fire time. Pure logic.

The run's id is derived from (job, fire time), and so is the id of the event its fire
records: two replicas, or one replica twice, firing the same (job, fire time) produce
the same event, and the event store's unique id keeps one of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from marcus_contracts import Event
from marcus_contracts.events import scheduler as ev
from marcus_eventstore import Aggregate, DomainError, NotFound
from scheduler.jobs import FIRE_EVENTS, Job, normalize, run_id

Status = Literal["requested", "succeeded", "failed"]
"""requested: fired, no outcome reported (yet, or ever for a job nobody reports on)."""


class UnknownJob(NotFound):
    pass


class NotLeader(DomainError):
    """A scheduled fire from a replica whose lease has run out: the new leader fires it."""


@dataclass
class JobRun(Aggregate):
    """A loaded run is only ever given an outcome; firing creates a new one."""

    job: str = ""
    fire_time: datetime | None = None
    status: Status = "requested"

    @classmethod
    def fire(cls, job: Job, fire_time: datetime, requested_by: str) -> JobRun:
        fire_time = normalize(fire_time)
        run = cls(
            id=run_id(job.name, fire_time),
            version=0,
            job=job.name,
            fire_time=fire_time,
        )
        run._record(job.make_event(fire_time, requested_by))
        return run

    def finish(self, *, succeeded: bool, detail: str, reported_by: str, report_id: UUID) -> bool:
        """Record the reported outcome once; a repeated or late report changes nothing."""
        if self.status != "requested":
            return False
        assert self.fire_time is not None
        self.status = "succeeded" if succeeded else "failed"
        self._record(
            ev.JobFinished(
                run_id=self.id,
                job=self.job,
                fire_time=self.fire_time,
                outcome=self.status,
                detail=detail,
                reported_by=reported_by,
                report_id=report_id,
            )
        )
        return True

    def event_id(self, event: Event) -> UUID | None:
        """The fire's event carries the run id (derived from job and fire time)."""
        if isinstance(event, FIRE_EVENTS):
            return self.id
        return None
