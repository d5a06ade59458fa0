"""Events the scheduler emits when a job fires (on its schedule or run by an admin).

The event id is derived from (job, fire_time), so a fire seen twice, by two replicas or
after a restart, is one event. `requested_by` is "schedule" or the admin's subject.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from marcus_contracts.base import Event


class _JobFiredV1(Event):
    job: str = Field(min_length=1)
    fire_time: datetime
    requested_by: str = "schedule"


class IndexRebuildRequestedV1(_JobFiredV1):
    """Rebuild the product index from the start of `events.catalog` (nightly, 03:00)."""

    event_type = "scheduler.index.rebuild_requested"
    version = 1


class ViewsRefreshRequestedV1(_JobFiredV1):
    """Refresh materialized views (best sellers, ...); `views` empty means all of them."""

    event_type = "scheduler.views.refresh_requested"
    version = 1

    views: list[str] = Field(default_factory=list)


class CartRemindersRequestedV1(_JobFiredV1):
    """Find carts idle longer than `idle_after_s` (with lines) and remind their owners
    once per idle period; clear carts idle longer than `expire_after_s` (hourly)."""

    event_type = "scheduler.carts.reminders_requested"
    version = 1

    idle_after_s: int = Field(default=86_400, gt=0)
    expire_after_s: int = Field(default=2_592_000, gt=0)


class JobFinishedV1(Event):
    """A job run's outcome, as reported back by the service that did the work (the
    indexer's `indexer.index.rebuilt` for `index-rebuild`). Subject: the run id, which is
    also the id of the run's requested event."""

    event_type = "scheduler.job.finished"
    version = 1

    run_id: UUID
    job: str = Field(min_length=1)
    fire_time: datetime
    outcome: Literal["succeeded", "failed"]
    detail: str = ""
    reported_by: str = Field(min_length=1, description="type of the report event")
    report_id: UUID = Field(description="id of the report event")


ALL = (IndexRebuildRequestedV1, ViewsRefreshRequestedV1, CartRemindersRequestedV1, JobFinishedV1)


# Unversioned names: the newest version of each event (see the package docstring).
IndexRebuildRequested = IndexRebuildRequestedV1
ViewsRefreshRequested = ViewsRefreshRequestedV1
CartRemindersRequested = CartRemindersRequestedV1
JobFinished = JobFinishedV1
