"""Prometheus metrics of consumer groups, on the default registry.

Collectors are module-level (one per process, however many consumers run); `_metric`
returns the already-registered collector if this module is ever imported twice (e.g. by
a test runner's import mode), instead of failing on a duplicate name.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import redis.asyncio as aioredis
from prometheus_client import REGISTRY, Counter, Gauge, Histogram

from marcus_messaging.groups import group_state

log = logging.getLogger("marcus.messaging")

M = TypeVar("M", Counter, Gauge, Histogram)


def _metric(kind: type[M], name: str, doc: str, labels: list[str], **kwargs: Any) -> M:
    existing = REGISTRY._names_to_collectors.get(name)
    if existing is not None:
        return existing  # type: ignore[return-value]
    return kind(name, doc, labels, **kwargs)


EVENT_LABELS = ["group", "stream", "type"]

CONSUMED = _metric(
    Counter, "messaging_events_consumed", "Events whose handler committed", EVENT_LABELS
)
DUPLICATES = _metric(
    Counter,
    "messaging_events_duplicate",
    "Events skipped because the ledger already had their id",
    EVENT_LABELS,
)
UNHANDLED = _metric(
    Counter,
    "messaging_events_unhandled",
    "Events acknowledged without a handler for their type",
    EVENT_LABELS,
)
FAILED = _metric(
    Counter, "messaging_events_failed", "Deliveries whose handling failed", EVENT_LABELS
)
DEAD_LETTERED = _metric(
    Counter,
    "messaging_events_dead_lettered",
    "Events moved to the dead-letter stream",
    EVENT_LABELS,
)
RECLAIM_EMPTY = _metric(
    Counter,
    "messaging_reclaim_empty",
    "Claims of a pending entry that returned nothing: taken (another replica was faster) or"
    " deleted (trimmed or deleted from the stream before the group processed it: lost)",
    ["group", "stream", "reason"],
)
RECLAIMED = _metric(
    Counter,
    "messaging_entries_reclaimed",
    "Pending entries claimed for a retry or from a dead consumer",
    ["group", "stream"],
)
HANDLER_SECONDS = _metric(
    Histogram,
    "messaging_handler_duration_seconds",
    "Time from the start of a transaction to its commit, observed once per transaction "
    "for each (stream, type) in it (events are counted by messaging_events_consumed)",
    EVENT_LABELS,
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DATABASE_UNAVAILABLE = _metric(
    Counter,
    "messaging_database_unavailable",
    "Attempts (a batch or one entry) that failed because PostgreSQL was unreachable; "
    "they do not count towards max_deliveries",
    ["group"],
)
DATABASE_AVAILABLE = _metric(
    Gauge,
    "messaging_database_available",
    "1 while the consumer can reach PostgreSQL, 0 while it holds entries for an outage",
    ["group"],
)
BATCH_SIZE = _metric(
    Histogram,
    "messaging_batch_size",
    "Entries per batch transaction",
    ["group", "stream"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)
BATCH_FALLBACKS = _metric(
    Counter,
    "messaging_batch_fallbacks",
    "Batch transactions that failed and were redone entry by entry",
    ["group", "stream"],
)
REPLAYED = _metric(
    Counter,
    "messaging_dead_letters_replayed",
    "Dead letters replayed into their group's handler (the admin API), by outcome",
    ["group", "outcome"],
)
GROUP_LAG = _metric(
    Gauge, "messaging_group_lag", "Entries not yet delivered to the group", ["group", "stream"]
)
GROUP_PENDING = _metric(
    Gauge,
    "messaging_group_pending",
    "Entries delivered but not acknowledged",
    ["group", "stream"],
)


async def refresh_group_gauges(redis: aioredis.Redis, stream: str, group: str) -> None:
    """Set lag and pending of the group (see `group_state`)."""
    state = await group_state(redis, stream, group)
    if state is not None:
        GROUP_LAG.labels(group, stream).set(float(state.lag))
        GROUP_PENDING.labels(group, stream).set(float(state.pending))
