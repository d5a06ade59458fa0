"""Consumer runtime of Marcus: consumer groups over Redis Streams with FastStream, an
idempotency ledger so effects happen exactly once, a per-subject sequence guard,
reclaim of abandoned entries, bounded retries with backoff and a dead-letter stream.

Public API::

    Consumer(*, group, streams, engine, schema, redis_url, names=None, settings=None,
             registry=None)
        .handler(*event_types) -> decorator for `async def fn(ctx: HandlerContext) -> None`
        .running() -> async context manager;  .run_forever();  .start();  .stop()
    ConsumerSettings(consumer_name=<host-pid>, max_deliveries=5, reclaim_min_idle_ms=30000,
                     backoff_base_ms=1000, backoff_max_ms=300000, batch=100, block_ms=1000,
                     reclaim_interval_ms=1000, metrics_interval_ms=5000,
                     shutdown_timeout_s=10.0, database_retry_ms=1000,
                     database_retry_max_ms=30000)
    HandlerContext(event, envelope, session, guard, stream, entry_id, deliveries,
                   transaction)
        .advance(*, scope="") -> bool   # sequence guard for this event's subject
    TransactionScope  # ctx.transaction: .events (the transaction's fresh events), .state,
                      # .before_commit(async fn): per-batch writes, before the commit
    ledger_tables(metadata, schema) -> LedgerTables   # for the service's Alembic migration
    create_ledger_tables(engine, schema)             # tests and tools
    SequenceGuard(tables).advance(session, subject, sequence, *, scope="") -> bool
    Ledger(tables, group).record(...) / .record_many(session, [LedgerRow]) / .seen(...)
    Consumer.replay_dead_letter(letter_id) -> ReplayResult   # the admin API's replay
    running_consumer(dlq_stream) -> Consumer | None          # this process's, if running
    list_dead_letters / read_dead_letter / discard_dead_letter(redis, dlq_stream, ...)
    group_report(redis, stream, group) -> GroupReport        # lag, pending, consumers
    readers_of(redis, own_stream) -> [GroupReport]           # every group reading it
    replay_dead_letters(redis, *, dlq_stream, count=100, origin_stream=None) -> int
                                  # operators only: re-XADDs to the origin (ADR 0017)
"""

from marcus_messaging.consumer import Consumer, running_consumer
from marcus_messaging.dlq import (
    DELIVERIES_FIELD,
    ENTRY_ID,
    ERROR_FIELD,
    ID_ORIGIN_FIELD,
    STREAM_ORIGIN_FIELD,
    DeadLetter,
    ParkedLetter,
    discard_dead_letter,
    list_dead_letters,
    read_dead_letter,
    replay_dead_letters,
)
from marcus_messaging.groups import GroupState, ensure_group, group_state
from marcus_messaging.inspection import (
    ConsumerInfo,
    GroupReport,
    group_report,
    readers_of,
    stream_length,
)
from marcus_messaging.ledger import (
    Ledger,
    LedgerRow,
    LedgerTables,
    SequenceGuard,
    create_ledger_tables,
    ledger_tables,
)
from marcus_messaging.processing import Entry, Handler, HandlerContext, Outcome
from marcus_messaging.registration import handles, registered
from marcus_messaging.replay import (
    DeadLetterNotFound,
    ReplayInProgress,
    ReplayOutcome,
    ReplayResult,
    ReplayUnavailable,
)
from marcus_messaging.settings import ConsumerSettings
from marcus_messaging.transaction import TransactionScope

__all__ = [
    "DELIVERIES_FIELD",
    "ENTRY_ID",
    "ERROR_FIELD",
    "ID_ORIGIN_FIELD",
    "STREAM_ORIGIN_FIELD",
    "Consumer",
    "ConsumerInfo",
    "ConsumerSettings",
    "DeadLetter",
    "DeadLetterNotFound",
    "Entry",
    "GroupReport",
    "GroupState",
    "Handler",
    "HandlerContext",
    "Ledger",
    "LedgerRow",
    "LedgerTables",
    "Outcome",
    "ParkedLetter",
    "ReplayInProgress",
    "ReplayOutcome",
    "ReplayResult",
    "ReplayUnavailable",
    "SequenceGuard",
    "TransactionScope",
    "create_ledger_tables",
    "discard_dead_letter",
    "ensure_group",
    "group_report",
    "group_state",
    "handles",
    "ledger_tables",
    "list_dead_letters",
    "read_dead_letter",
    "readers_of",
    "registered",
    "replay_dead_letters",
    "running_consumer",
    "stream_length",
]
