"""Marcus event contracts: the envelope, event models per (type, version), the registry."""

from marcus_contracts.base import Event
from marcus_contracts.envelope import Envelope, new_event_id, utcnow
from marcus_contracts.events import (
    assistant,
    cart,
    catalog,
    history,
    indexer,
    notifier,
    orders,
    scheduler,
)
from marcus_contracts.registry import EventRegistry, UnknownEventError, build_registry
from marcus_contracts.streams import SERVICES, STREAM_FIELD, StreamNames, source_of
from marcus_contracts.upcasters import UPCASTERS

# Every service's events, in one registry: add a module's ALL here when it gets events.
ALL_EVENTS = (
    *catalog.ALL,
    *scheduler.ALL,
    *orders.ALL,
    *cart.ALL,
    *notifier.ALL,
    *indexer.ALL,
    *assistant.ALL,
    *history.ALL,
)

registry: EventRegistry = build_registry(ALL_EVENTS, UPCASTERS)

__all__ = [
    "SERVICES",
    "STREAM_FIELD",
    "Envelope",
    "Event",
    "EventRegistry",
    "StreamNames",
    "UnknownEventError",
    "build_registry",
    "new_event_id",
    "registry",
    "source_of",
    "utcnow",
]
