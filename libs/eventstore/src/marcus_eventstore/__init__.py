"""Event store + transactional outbox: append in the command's transaction, relay to Redis."""

from marcus_eventstore.aggregate import (
    Aggregate,
    Conflict,
    DomainError,
    NotFound,
    VersionMismatch,
)
from marcus_eventstore.migrations import libpq_dsn
from marcus_eventstore.projections import Projector, rebuild_projections
from marcus_eventstore.relay import OutboxRelay, RelaySettings, advisory_key
from marcus_eventstore.store import ConcurrencyError, EventStore, constraint_of
from marcus_eventstore.tables import EventStoreTables, event_store_tables
from marcus_eventstore.uow import AggregateRepository, CommandContext, Transaction, UnitOfWork

__all__ = [
    "Aggregate",
    "AggregateRepository",
    "CommandContext",
    "ConcurrencyError",
    "Conflict",
    "DomainError",
    "EventStore",
    "EventStoreTables",
    "NotFound",
    "OutboxRelay",
    "Projector",
    "RelaySettings",
    "Transaction",
    "UnitOfWork",
    "VersionMismatch",
    "advisory_key",
    "constraint_of",
    "event_store_tables",
    "libpq_dsn",
    "rebuild_projections",
]
