"""APScheduler, running the jobs while this replica leads.

Each election starts a fresh AsyncIOScheduler (in-memory job store: replicas never
share APScheduler state, the database holds the truth). A job whose latest fire time
lies within the misfire grace window is started at that fire time, so a fire missed
while no replica led (down at 03:00, a takeover) runs once on election, coalesced; if
it had fired already, the unique run makes this a no-op.

APScheduler 3 does not pass the scheduled time to the job; with `coalesce=True` the
time it runs for is always the latest fire time at or before now, which is what the
job computes from its own trigger.

Housekeeping jobs run on their interval trigger in the same scheduler (so only while
this replica leads), without catch-up: a missed pass is simply the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError

from scheduler.domain import NotLeader
from scheduler.jobs import Housekeeping, Job
from scheduler.metrics import FIRES

log = logging.getLogger("marcus.scheduler")

Fire = Callable[[Job, datetime], Awaitable[bool]]
"""Fire `job` for a scheduled time; True when this call emitted the event."""

Act = Callable[[Housekeeping, datetime], Awaitable[object]]
"""Run a housekeeping job now (raises NotLeader when this replica no longer leads)."""


class JobRunner:
    def __init__(
        self,
        jobs: Mapping[str, Job],
        fire: Fire,
        grace: timedelta,
        *,
        retry_max_seconds: float = 5.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        housekeeping: Mapping[str, Housekeeping] | None = None,
        act: Act | None = None,
    ) -> None:
        self.jobs = jobs
        self.housekeeping = housekeeping or {}
        self.act = act
        self.fire = fire
        self.grace = grace
        self.retry_max_seconds = retry_max_seconds
        self.clock = clock
        self._scheduler: AsyncIOScheduler | None = None
        self._stopped = asyncio.Event()
        self.last_attempt: dict[str, tuple[datetime, str]] = {}
        """job -> (fire time, result) of its latest scheduled fire, for status and tests;
        housekeeping: (start, done / refused / failed)."""

    @property
    def running(self) -> bool:
        return self._scheduler is not None

    def next_run_times(self) -> dict[str, datetime | None]:
        if self._scheduler is None:
            return {}
        return {job.id: job.next_run_time for job in self._scheduler.get_jobs()}

    async def start(self) -> None:
        await self.stop()
        self._stopped = asyncio.Event()
        scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={
                "coalesce": True,
                "misfire_grace_time": int(self.grace.total_seconds()),
                "max_instances": 1,
            },
        )
        now = self.clock()
        for job in self.jobs.values():
            due = job.latest_due(now, self.grace)
            scheduler.add_job(
                self._run,
                trigger=job.trigger,
                args=[job],
                id=job.name,
                name=job.name,
                **({"next_run_time": due} if due is not None else {}),
            )
            if due is not None:
                log.info("%s: catching up on its fire at %s", job.name, due.isoformat())
        if self.act is not None:
            for task in self.housekeeping.values():
                scheduler.add_job(self._housekeep, trigger=task.trigger, args=[task], id=task.name)
        scheduler.start()
        self._scheduler = scheduler

    async def stop(self) -> None:
        scheduler, self._scheduler = self._scheduler, None
        self._stopped.set()
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=False)

    async def _run(self, job: Job) -> None:
        fire_time = job.latest_due(self.clock(), self.grace)
        if fire_time is not None:
            result = await self._fire_until_done(job, fire_time)
            self.last_attempt[job.name] = (fire_time, result)
            FIRES.labels(job.name, result).inc()

    async def _housekeep(self, task: Housekeeping) -> None:
        """One pass; a failure is logged and counted, the next interval tries again."""
        assert self.act is not None
        started = self.clock()
        try:
            await self.act(task, started)
            result = "done"
        except NotLeader as exc:
            log.info("%s", exc)
            result = "refused"
        except (RedisError, OSError) as exc:  # Redis down: this pass, not the schedule
            log.warning("%s failed (%s); next run in %d s", task.name, exc, task.interval_s)
            result = "failed"
        except Exception:  # a bug: said loudly, and the next interval runs anyway
            log.exception("%s failed", task.name)
            result = "failed"
        self.last_attempt[task.name] = (started, result)
        FIRES.labels(task.name, result).inc()

    async def _fire_until_done(self, job: Job, fire_time: datetime) -> str:
        """Retry while the database is unreachable, as long as the fire is within grace."""
        delay = 0.2
        while not self._stopped.is_set():
            try:
                if await self.fire(job, fire_time):
                    log.info("%s fired for %s", job.name, fire_time.isoformat())
                    return "emitted"
                return "duplicate"
            except NotLeader as exc:
                log.info("%s", exc)
                return "refused"
            except (DBAPIError, OSError) as exc:
                if self.clock() - fire_time > self.grace:
                    log.error("%s: gave up on the fire at %s: %s", job.name, fire_time, exc)
                    return "failed"
                log.warning("%s: fire failed (%s); retrying in %.1fs", job.name, exc, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), delay)
            delay = min(delay * 2, self.retry_max_seconds)
        return "refused"  # stood down before the database came back
