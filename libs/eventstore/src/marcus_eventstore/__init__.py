"""Event store + transactional outbox: append in the command's transaction, relay to Redis."""

from marcus_eventstore.projections import Projector, rebuild_projections
from marcus_eventstore.relay import OutboxRelay, RelaySettings, advisory_key
from marcus_eventstore.store import ConcurrencyError, EventStore, constraint_of
from marcus_eventstore.tables import EventStoreTables, event_store_tables

__all__ = [
    "ConcurrencyError",
    "EventStore",
    "EventStoreTables",
    "OutboxRelay",
    "Projector",
    "RelaySettings",
    "advisory_key",
    "constraint_of",
    "event_store_tables",
    "rebuild_projections",
]
