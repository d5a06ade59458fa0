"""Outcome reports: the events other services emit when they did a job's work.

`indexer.index.rebuilt` (success) and `indexer.index.rebuild_failed` (the rebuild gave
up) carry `request_id`, the id of the scheduler event that asked for the rebuild, which
is the run id: the run gets its outcome from them. A rebuild that no run asked for
(`make reindex`, the indexer's own admin endpoint) matches no run and is skipped. A job
reported by a success event also takes that event's failure counterpart (`FAILURES`).

A request the indexer merged into another run (it arrived while that run was waiting)
has no report of its own: the report of the run it was merged into lists it in
`coalesced_requests`, and every run named there takes the same outcome, in the same
transaction as the reporting run's (runs locked in id order, so concurrent reports
naming overlapping runs cannot deadlock).

The outcome (a `scheduler.job.finished` event and the run's new state) is recorded in
the consumer's ledger transaction, so the report is processed exactly once; the run
also takes an outcome only once, so even a second report for it changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from uuid import UUID

from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine

from marcus_contracts import Event, StreamNames, source_of
from marcus_contracts.events.indexer import IndexRebuildFailed, IndexRebuilt
from marcus_eventstore import CommandContext
from marcus_messaging import Consumer, HandlerContext
from scheduler import handlers
from scheduler.jobs import Job
from scheduler.settings import SCHEMA, SERVICE, SchedulerSettings
from scheduler.storage.uow import SchedulerUnitOfWork

log = logging.getLogger("marcus.scheduler")


@dataclass(frozen=True)
class Report:
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


def _index_rebuilt(event: Event) -> Report:
    assert isinstance(event, IndexRebuilt)
    return Report(
        run_id=event.request_id,
        succeeded=True,
        detail=(
            f"collection {event.collection} active: {event.documents} documents "
            f"({event.embedder}, {event.events_replayed} events replayed "
            f"in {event.seconds:.1f}s)"
        ),
        merged=tuple(merged.request_id for merged in event.coalesced_requests),
    )


def _index_rebuild_failed(event: Event) -> Report:
    assert isinstance(event, IndexRebuildFailed)
    return Report(
        run_id=event.request_id,
        succeeded=False,
        detail=f"rebuild gave up after {event.attempts} attempt(s): {event.error}"[:2000],
        merged=tuple(merged.request_id for merged in event.coalesced_requests),
    )


REPORTS: Mapping[str, Callable[[Event], Report]] = {
    IndexRebuilt.event_type: _index_rebuilt,
    IndexRebuildFailed.event_type: _index_rebuild_failed,
}

FAILURES: Mapping[str, str] = {IndexRebuilt.event_type: IndexRebuildFailed.event_type}
"""The failure report of each success report a job may be `reported_by`."""


def reporters_of(jobs: Mapping[str, Job]) -> set[str]:
    """Event types that report an outcome of one of `jobs`: success and failure."""
    types = {job.reported_by for job in jobs.values() if job.reported_by}
    return types | {FAILURES[t] for t in types if t in FAILURES}


def make_report_consumer(
    settings: SchedulerSettings,
    engine: AsyncEngine,
    jobs: Mapping[str, Job],
) -> Consumer:
    consumer = Consumer(
        group=SERVICE,
        streams=sorted({source_of(t) for t in REPORTS}),
        engine=engine,
        schema=SCHEMA,
        redis_url=settings.redis_url,
        names=StreamNames(settings.stream_prefix),
    )
    reporters = reporters_of(jobs)

    @consumer.handler(*REPORTS)
    async def on_report(ctx: HandlerContext) -> None:
        if ctx.envelope.type not in reporters:
            return
        report = REPORTS[ctx.envelope.type](ctx.event)
        recorded = await handlers.record_outcomes(
            report.outcomes(ctx.envelope.type, ctx.envelope.id),
            SchedulerUnitOfWork.joining(
                ctx.session,
                CommandContext(
                    correlationid=ctx.envelope.correlationid,
                    causationid=str(ctx.envelope.id),
                    traceparent=ctx.envelope.traceparent,
                ),
            ),
        )
        for run_id in recorded:
            log.info("run %s: %s reported %s", run_id, ctx.envelope.type, report.detail)

    return consumer


async def run_report_consumer(
    settings: SchedulerSettings,
    engine: AsyncEngine,
    jobs: Mapping[str, Job],
    stop: asyncio.Event,
) -> None:
    """Consume reports until `stop`; a consumer that cannot start (Redis down) retries."""
    delay = 0.5
    while not stop.is_set():
        consumer = make_report_consumer(settings, engine, jobs)
        try:
            async with consumer.running():
                delay = 0.5
                await stop.wait()
        except (RedisError, OSError) as exc:
            log.warning("report consumer cannot start (%s); retrying in %.1fs", exc, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 10.0)
