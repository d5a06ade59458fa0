"""Names of streams, consumer groups and dead-letter streams, in one place.

A prefix lets one Redis serve several isolated stacks (tests, benchmarks, tenants).
"""

from __future__ import annotations

from dataclasses import dataclass

SERVICES = ("catalog", "orders", "assistant", "indexer", "scheduler", "notifier")


@dataclass(frozen=True)
class StreamNames:
    prefix: str = ""

    def events(self, service: str) -> str:
        """The stream a service publishes all its events to."""
        return f"{self.prefix}events.{service}"

    def dlq(self, group: str) -> str:
        """Where a consumer group parks events it gave up on."""
        return f"{self.prefix}dlq.{group}"

    def snapshot(self, service: str, request_id: object) -> str:
        """Where `service` answers one snapshot request: a short-lived stream of its own,
        apart from `events.<service>` (a snapshot is a view of the present, not history)."""
        return f"{self.prefix}snapshots.{service}.{request_id}"

    def group(self, service: str) -> str:
        """Consumer group of a consuming service.

        One group per service, shared by its replicas; groups live inside a stream, so
        they need no prefix.
        """
        return service


def source_of(event_type: str) -> str:
    """`catalog.product.created` -> `catalog`: the first segment names the producer."""
    return event_type.split(".", 1)[0]


STREAM_FIELD = "event"
"""Each stream entry has one field, `event`: the structured-mode CloudEvents JSON."""
