"""The scheduler's consumer: the outcome reports other services emit when they did a
job's work (its group on `events.indexer`).

`indexer.index.rebuilt` (success) and `indexer.index.rebuild_failed` (the rebuild gave
up) carry `request_id`, the id of the scheduler event that asked for the rebuild, which
is the run id: the run gets its outcome from them. A rebuild that no run asked for
(`make reindex`, the indexer's own admin endpoint) matches no run and is skipped. A job
reported by a success event also takes that event's failure counterpart (`FAILURES`);
a report no configured job is reported by is acknowledged unread.

A request the indexer merged into another run (it arrived while that run was waiting)
has no report of its own: the report of the run it was merged into lists it in
`coalesced_requests`, and every run named there takes the same outcome, in the same
transaction as the reporting run's (`handlers.record_outcomes`).

The outcome (a `scheduler.job.finished` event and the run's new state) is recorded in
the consumer's ledger transaction, so the report is processed exactly once; the run
also takes an outcome only once, so even a second report for it changes nothing.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from fastapi import FastAPI

from marcus_contracts.events.indexer import CoalescedRequest, IndexRebuildFailed, IndexRebuilt
from marcus_eventstore import CommandContext
from marcus_messaging import Consumer, HandlerContext, handles
from marcus_web.consumers import consumer_task, service_consumer
from scheduler import handlers
from scheduler.jobs import Job
from scheduler.settings import SCHEMA, SERVICE, SchedulerSettings
from scheduler.storage.uow import SchedulerUnitOfWork

log = logging.getLogger("marcus.scheduler")

FAILURES: Mapping[str, str] = {IndexRebuilt.event_type: IndexRebuildFailed.event_type}
"""The failure report of each success report a job may be `reported_by`."""


def reporters_of(jobs: Mapping[str, Job]) -> set[str]:
    """Event types that report an outcome of one of `jobs`: success and failure."""
    types = {job.reported_by for job in jobs.values() if job.reported_by}
    return types | {FAILURES[t] for t in types if t in FAILURES}


@dataclass(frozen=True)
class Report:
    """What a report says of the run that asked for the work."""

    run_id: UUID
    succeeded: bool
    detail: str
    merged: tuple[UUID, ...] = ()
    """Requests merged into the reported work: they take the same outcome."""

    def outcomes(self, reported_by: str, report_id: UUID) -> list[handlers.RecordOutcome]:
        """One outcome per run the report answers; a merged run's detail says so."""
        note = f"merged into the rebuild of run {self.run_id}: "
        return [
            handlers.RecordOutcome(
                run_id=run_id,
                succeeded=self.succeeded,
                detail=self.detail if run_id == self.run_id else (note + self.detail)[:2000],
                reported_by=reported_by,
                report_id=report_id,
            )
            for run_id in (self.run_id, *self.merged)
        ]


def _merged(coalesced: list[CoalescedRequest]) -> tuple[UUID, ...]:
    return tuple(request.request_id for request in coalesced)


@handles(IndexRebuilt)
async def on_index_rebuilt(
    event: IndexRebuilt, ctx: HandlerContext, *, reporters: set[str]
) -> None:
    detail = (
        f"collection {event.collection} active: {event.documents} documents "
        f"({event.embedder}, {event.events_replayed} events replayed in {event.seconds:.1f}s)"
    )
    report = Report(event.request_id, True, detail, _merged(event.coalesced_requests))
    await _record(report, ctx, reporters)


@handles(IndexRebuildFailed)
async def on_index_rebuild_failed(
    event: IndexRebuildFailed, ctx: HandlerContext, *, reporters: set[str]
) -> None:
    detail = f"rebuild gave up after {event.attempts} attempt(s): {event.error}"[:2000]
    report = Report(event.request_id, False, detail, _merged(event.coalesced_requests))
    await _record(report, ctx, reporters)


async def _record(report: Report, ctx: HandlerContext, reporters: set[str]) -> None:
    """Give the runs the report answers their outcome, in the ledger's transaction."""
    if ctx.envelope.type not in reporters:
        return
    recorded = await handlers.record_outcomes(
        report.outcomes(ctx.envelope.type, ctx.envelope.id),
        SchedulerUnitOfWork.joining(ctx.session, CommandContext.caused_by(ctx.envelope)),
    )
    for run_id in recorded:
        log.info("run %s: %s reported %s", run_id, ctx.envelope.type, report.detail)


def build_consumer(settings: SchedulerSettings, app: FastAPI) -> Consumer:
    consumer = service_consumer(settings, app, group=SERVICE, streams=["indexer"], schema=SCHEMA)
    jobs: dict[str, Job] = app.state.jobs
    consumer.include(sys.modules[__name__], reporters=reporters_of(jobs))
    return consumer


run_consumer = consumer_task(build_consumer)
"""Retries a start while Redis is away: the scheduler's replicas keep firing through a
Redis outage (runner.py), and the reports of those fires must be read once it is back."""
