"""Prometheus metrics of the scheduler (on the default registry, served at /metrics)."""

from prometheus_client import Counter, Gauge

FIRES = Counter(
    "scheduler_fires_total",
    "Scheduled fires by result: emitted, duplicate (fired already), refused (not the "
    "leader any more), failed (gave up after the grace window); housekeeping jobs: "
    "done, refused, failed",
    ["job", "result"],
)
LEADER = Gauge("scheduler_leader", "1 while this replica holds the scheduler lease")

STREAM_TRIMMED = Counter(
    "scheduler_stream_trimmed_entries_total",
    "Entries the stream-retention job removed, by stream (name without STREAM_PREFIX)",
    ["stream"],
)
STREAM_LENGTH = Gauge(
    "scheduler_stream_length",
    "Entries in the stream after the latest stream-retention run (the leader only)",
    ["stream"],
)
STREAM_MEMORY = Gauge(
    "scheduler_stream_memory_bytes",
    "MEMORY USAGE of the stream (SAMPLES 0) at the latest stream-retention run",
    ["stream"],
)
STREAM_OLDEST_AGE = Gauge(
    "scheduler_stream_oldest_entry_age_seconds",
    "Age of the stream's oldest entry (from its id) at the latest stream-retention run",
    ["stream"],
)
STREAM_GAUGES = (STREAM_LENGTH, STREAM_MEMORY, STREAM_OLDEST_AGE)
