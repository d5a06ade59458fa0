"""Prometheus metrics of the outbox relay."""

from prometheus_client import Counter, Gauge

EVENTS_PUBLISHED = Counter(
    "outbox_events_published_total", "Events the relay published to a stream", ["schema"]
)
PUBLISH_FAILURES = Counter(
    "outbox_publish_failures_total", "Batches the relay failed to publish (retried)", ["schema"]
)
OUTBOX_BACKLOG = Gauge("outbox_backlog", "Events recorded but not yet published", ["schema"])
OUTBOX_OLDEST_AGE = Gauge(
    "outbox_oldest_age_seconds", "Age of the oldest unpublished event", ["schema"]
)
STREAM_TRIMMED = Counter(
    "outbox_stream_trimmed_total",
    "Stream entries the relay trimmed once every consumer group had acknowledged them",
    ["schema"],
)
RELAY_LEADER = Gauge(
    "outbox_relay_leader", "1 when this process holds the relay lock of the schema", ["schema"]
)
