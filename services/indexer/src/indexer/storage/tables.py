"""The indexer's schema: event store (for `indexer.*`), consumer ledger, and the index state.

* `documents`: the indexer's fold of each product (domain.ProductState), the source of
  every document written to Chroma by the live path.
* `sync_queue`: products whose document changed and must be written to the target
  collections; drained in batches by every replica (FOR UPDATE SKIP LOCKED), which is
  what makes one embedding call cover several events.
* `collections`: every Chroma collection the indexer made, and which one is active (a
  partial unique index: at most one). The truth behind the Redis alias.
* `indexed`: per (collection, product), the sequence of the document written there: the
  guard that keeps the live path and a rebuild's replay from regressing each other.
* `rebuild_runs`: rebuild requests (unique request id: a request is processed once) and
  their outcome.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from indexer.settings import SCHEMA
from marcus_eventstore import event_store_tables
from marcus_messaging import ledger_tables

T = TypeVar("T")

metadata = MetaData()
event_store = event_store_tables(metadata, SCHEMA)
ledger = ledger_tables(metadata, SCHEMA)

documents = Table(
    "documents",
    metadata,
    Column("product_id", Uuid, primary_key=True),
    Column("sequence", Integer, nullable=False, server_default="0"),
    Column("snapshot_sequence", Integer, nullable=False, server_default="0"),
    Column("stock_sequence", Integer, nullable=False, server_default="0"),
    Column("deleted", Boolean, nullable=False, server_default="false"),
    Column("snapshot", JSONB, nullable=True),
    Column("stock", Integer, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("option_stock", JSONB, nullable=True),  # configurable products: option -> stock
    schema=SCHEMA,
)

sync_queue = Table(
    "sync_queue",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("product_id", Uuid, nullable=False),
    Column("queued_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("traceparent", Text, nullable=True),  # the queuing event's trace (tracing on)
    schema=SCHEMA,
)

collections = Table(
    "collections",
    metadata,
    Column("name", Text, primary_key=True),
    Column("embedder", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("dimension", Integer, nullable=False),
    Column("status", Text, nullable=False),  # building | active | retired | dropped | failed
    Column("run_id", Uuid, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("activated_at", DateTime(timezone=True), nullable=True),
    Column("retired_at", DateTime(timezone=True), nullable=True),
    schema=SCHEMA,
)
Index(
    "uq_collections_one_active",
    collections.c.status,
    unique=True,
    postgresql_where=text("status = 'active'"),
)

indexed = Table(
    "indexed",
    metadata,
    Column("collection", Text, primary_key=True),
    Column("product_id", Uuid, primary_key=True),
    Column("sequence", Integer, nullable=False),
    Column("text_digest", LargeBinary, nullable=True),
    schema=SCHEMA,
)

rebuild_runs = Table(
    "rebuild_runs",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("request_id", Uuid, nullable=False, unique=True),
    Column("requested_by", Text, nullable=False),
    Column("status", Text, nullable=False),  # requested | running | done | failed | coalesced
    Column("requested_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("collection", Text, nullable=True),
    Column("previous_collection", Text, nullable=True),
    Column("embedder", Text, nullable=True),
    Column("documents", Integer, nullable=True),
    Column("events_replayed", Integer, nullable=True),
    Column("seconds", Float, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("error", Text, nullable=True),
    Column("coalesced_into", Uuid, nullable=True),
    schema=SCHEMA,
)
Index("ix_indexer_rebuild_runs_status", rebuild_runs.c.status, rebuild_runs.c.requested_at)


def row_as(cls: type[T], row: Any) -> T:
    """A row as the dataclass `cls`: each field read from the column of its name."""
    return cls(**{field.name: getattr(row, field.name) for field in fields(cls)})  # type: ignore[arg-type]
