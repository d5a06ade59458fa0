"""The event table and outbox table every event-sourced service keeps in its own schema.

`events` is append-only: `position` gives the global order of this service's events,
`(subject, sequence)` is unique, which is the optimistic-concurrency check (two writers
that loaded the same version cannot both append the next one). `envelope` holds the
complete CloudEvent as it goes on the wire, so the relay publishes it without decoding.

`outbox` lists the positions not yet published; the relay deletes them after XADD.
Re-publishing a stream is inserting positions into it again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSON

SUBJECT_SEQUENCE_CONSTRAINT = "uq_events_subject_sequence"


@dataclass(frozen=True)
class EventStoreTables:
    schema: str
    events: Table
    outbox: Table

    @property
    def notify_channel(self) -> str:
        """LISTEN/NOTIFY channel that wakes the relay when this schema appends events."""
        return f"{self.schema}_outbox"


def event_store_tables(metadata: MetaData, schema: str) -> EventStoreTables:
    """Define the two tables on a service's metadata (its Alembic migration creates them)."""
    events = Table(
        "events",
        metadata,
        Column("position", BigInteger, Identity(always=True), primary_key=True),
        Column("id", Uuid, nullable=False, unique=True),
        Column("subject", Text, nullable=False),
        Column("sequence", Integer, nullable=False),
        Column("type", Text, nullable=False),
        Column("dataversion", Integer, nullable=False),
        Column("time", DateTime(timezone=True), nullable=False),
        Column("envelope", JSON, nullable=False),
        UniqueConstraint("subject", "sequence", name=SUBJECT_SEQUENCE_CONSTRAINT),
        schema=schema,
    )
    outbox = Table(
        "outbox",
        metadata,
        Column(
            "position",
            BigInteger,
            ForeignKey(events.c.position, ondelete="CASCADE"),
            primary_key=True,
        ),
        schema=schema,
    )
    Index(f"ix_{schema}_events_type", events.c.type)
    return EventStoreTables(schema=schema, events=events, outbox=outbox)
