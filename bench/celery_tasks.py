"""The Celery side of `make bench-bus`: the architecture this project replaces.

A no-op task on a Redis broker, taking the same ~660-byte event JSON the bus carries.
Completions are counted by one Redis INCR per task (no result backend: results are
ignored, as a fire-and-forget job would be). Celery's defaults otherwise: the message
is acknowledged when the worker takes it, before the task runs (`acks_late=False`),
prefetch multiplier 4.

The worker is a separate process, started by the bench as
`celery -A bench.celery_tasks worker`; broker, queue and key prefix come from the
environment so parallel runs (and other users of the Redis database) do not meet.
"""

from __future__ import annotations

import os

import redis
from celery import Celery

BROKER_ENV = "BENCH_CELERY_BROKER"
PREFIX_ENV = "BENCH_CELERY_PREFIX"

DEFAULT_BROKER = "redis://127.0.0.1:6379/0"


def queue_of(prefix: str) -> str:
    return f"{prefix}tasks"


def counter_of(prefix: str) -> str:
    return f"{prefix}done"


def make_app(broker: str, prefix: str) -> Celery:
    """A Celery app on `broker` whose every broker key starts with `prefix`."""
    app = Celery("bench", broker=broker)
    app.conf.update(
        broker_transport_options={"global_keyprefix": prefix},
        broker_connection_retry_on_startup=True,
        task_default_queue=queue_of(prefix),
        task_ignore_result=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    return app


_broker = os.environ.get(BROKER_ENV, DEFAULT_BROKER)
_prefix = os.environ.get(PREFIX_ENV, "bench-celery:")
app = make_app(_broker, _prefix)
_counter: redis.Redis | None = None


@app.task(name="bench.noop", ignore_result=True)
def noop(event: str) -> None:
    """The no-op handler; the INCR is how the bench sees it done."""
    global _counter
    if _counter is None:  # one connection per worker process (prefork forks after import)
        _counter = redis.Redis.from_url(_broker)
    _counter.incr(counter_of(_prefix))
