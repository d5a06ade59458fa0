"""Tuning knobs of a consumer; the defaults suit production, tests shrink the timings."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

from marcus_messaging.connections import RedisTimeouts


def default_consumer_name() -> str:
    """Unique per process, so a restarted replica never inherits a dead one's entries silently."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True)
class ConsumerSettings:
    consumer_name: str = field(default_factory=default_consumer_name)
    """Name of this replica inside the consumer group."""
    max_deliveries: int = 5
    """Deliveries (first one included) before an entry whose handler fails is dead-lettered."""
    reclaim_min_idle_ms: int = 30_000
    """Idle time after which another replica's pending entry counts as abandoned.

    Idle counts from delivery, and a replica holds up to two batches of `batch` entries
    (one committing, the next read ahead), so this must exceed twice `batch` times the
    slowest handler: a live but slow replica would otherwise have entries taken over
    (harmless for effects thanks to the ledger, but wasted work)."""
    backoff_base_ms: int = 1_000
    """Retry delay after the first failed delivery; doubles with each further delivery."""
    backoff_max_ms: int = 300_000
    """Upper bound of the retry delay."""
    batch: int = 100
    """Entries per XREADGROUP, handled in one transaction; also the XPENDING page size.

    Bigger batches amortise the commit and the round trips (see the README's numbers);
    the cost is latency under load (a batch commits when its last handler is done) and
    `reclaim_min_idle_ms`, which must cover a whole batch."""
    block_ms: int = 1_000
    """How long one XREADGROUP blocks waiting for new entries."""
    reclaim_interval_ms: int = 1_000
    """How often the pending entries list is scanned for retries and abandoned entries."""
    metrics_interval_ms: int = 5_000
    """How often group lag and pending counts are refreshed."""
    idle_consumer_ms: int = 3_600_000
    """Consumers of the group (other replicas' names, host-pid) with nothing pending that
    have not read for this long are deleted, so names of stopped processes do not pile
    up; 0 keeps them. Far above `block_ms`, which a live replica reads within."""
    consumer_cleanup_interval_ms: int = 60_000
    """How often idle consumers are looked for."""
    redis: RedisTimeouts = field(default_factory=RedisTimeouts)
    """Socket and connect timeouts and the health check of this consumer's Redis
    connections (`marcus_messaging.connections`): a frozen Redis is an outage, not a hang."""
    shutdown_timeout_s: float = 10.0
    """How long stopping waits for the batch in flight to finish (then it is rolled back)."""
    database_retry_ms: int = 1_000
    """First delay between database probes while PostgreSQL is unavailable; doubles."""
    database_retry_max_ms: int = 30_000
    """Upper bound of the delay between database probes during an outage."""
    freeze_heap: bool = True
    """Once the first consumer of the process has started, move what is allocated by
    then (modules, the app, connections) out of the garbage collector's reach
    (`gc.freeze`), once per process. Each batch allocates thousands of objects, which
    triggers full collections; each walked that whole long-lived heap and cost the
    runtime about a fifth of its CPU per event (bench-bus). Objects frozen are still
    freed by reference counting; only cycles among them are never collected."""

    def __post_init__(self) -> None:
        if self.max_deliveries < 1:
            raise ValueError("max_deliveries must be at least 1")
        timings = (self.reclaim_min_idle_ms, self.backoff_base_ms, self.block_ms)
        if min(*timings, self.batch, self.database_retry_ms, self.database_retry_max_ms) < 1:
            raise ValueError("timings and batch must be positive")

    def retry_delay_ms(self, deliveries: int) -> int:
        """Backoff before delivery `deliveries + 1`: base * 2**(deliveries - 1), capped."""
        exponent = max(deliveries - 1, 0)
        if exponent >= 40:
            return self.backoff_max_ms
        return min(self.backoff_base_ms * 2**exponent, self.backoff_max_ms)
