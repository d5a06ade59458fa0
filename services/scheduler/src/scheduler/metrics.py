"""Prometheus metrics of the scheduler (on the default registry, served at /metrics)."""

from prometheus_client import Counter, Gauge

FIRES = Counter(
    "scheduler_fires_total",
    "Scheduled fires by result: emitted, duplicate (fired already), refused (not the "
    "leader any more), failed (gave up after the grace window)",
    ["job", "result"],
)
LEADER = Gauge("scheduler_leader", "1 while this replica holds the scheduler lease")
