"""The idempotency ledger and the per-subject sequence guard, in the consumer's own schema.

Redis delivers at least once; effects happen exactly once because the event id is
inserted into `processed_events` in the same transaction as the effect. A redelivered
event finds its id there and is skipped. A concurrent duplicate (another replica handling
a second copy) blocks on the primary key until the first transaction ends, so it never
runs the handler alongside it.

`subject_sequences` remembers the newest `sequence` applied per subject, for handlers
that keep a snapshot of an aggregate and must ignore stale (out-of-order) events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    MetaData,
    Table,
    Text,
    Update,
    Uuid,
    bindparam,
    cast,
    column,
    exists,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.schema import CreateSchema
from sqlalchemy.sql.dml import ReturningInsert


@dataclass(frozen=True)
class LedgerTables:
    schema: str
    processed_events: Table
    subject_sequences: Table


def ledger_tables(metadata: MetaData, schema: str) -> LedgerTables:
    """Define both tables on a service's metadata, so its Alembic migration creates them."""
    processed = Table(
        "processed_events",
        metadata,
        Column("consumer_group", Text, primary_key=True),
        Column("event_id", Uuid, primary_key=True),
        Column("event_type", Text, nullable=False),
        Column("stream", Text, nullable=False),
        Column("entry_id", Text, nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        schema=schema,
    )
    Index(f"ix_{schema}_processed_events_processed_at", processed.c.processed_at)
    sequences = Table(
        "subject_sequences",
        metadata,
        Column("scope", Text, primary_key=True, server_default=""),
        Column("subject", Text, primary_key=True),
        Column("sequence", BigInteger, nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        schema=schema,
    )
    return LedgerTables(schema=schema, processed_events=processed, subject_sequences=sequences)


async def create_ledger_tables(engine: AsyncEngine, schema: str) -> None:
    """Create the schema and both tables if missing: for tests and tools, not production
    (services create them in their Alembic migration, see `ledger_tables`)."""
    metadata = MetaData()
    ledger_tables(metadata, schema)
    async with engine.begin() as conn:
        await conn.execute(CreateSchema(schema, if_not_exists=True))
        await conn.run_sync(metadata.create_all)


@dataclass(slots=True)
class LedgerRow:
    """One event to record: its id and where it was read. (Slotted, not frozen: one is
    built per consumed event.)"""

    event_id: UUID
    event_type: str
    stream: str
    entry_id: str


class Ledger:
    """Records processed event ids of one consumer group."""

    def __init__(self, tables: LedgerTables, group: str) -> None:
        self._table = tables.processed_events
        self._group = group
        self._insert_many = _insert_many(self._table)

    async def record(
        self, session: AsyncSession, event_id: UUID, *, event_type: str, stream: str, entry_id: str
    ) -> bool:
        """Insert the event id; False if it was already processed (the caller skips it)."""
        table = self._table
        statement = (
            insert(table)
            .values(
                consumer_group=self._group,
                event_id=event_id,
                event_type=event_type,
                stream=stream,
                entry_id=entry_id,
            )
            .on_conflict_do_nothing()
            .returning(table.c.event_id)
        )
        return (await session.execute(statement)).first() is not None

    async def record_many(self, session: AsyncSession, rows: Sequence[LedgerRow]) -> set[UUID]:
        """Insert many event ids in one statement; returns the fresh ones (the others were
        processed already). Ids must be distinct.

        The rows go in as four array literals through `unnest`: the statement text never
        changes (compiled once, whatever the batch size), and building a literal costs a
        fraction of adapting a list element by element (this runs for every event). They
        go in event-id order, so two replicas recording overlapping batches take the key
        locks in the same order and cannot deadlock. What comes back is the (usually
        empty) list of ids already recorded, not one row per fresh id."""
        if not rows:
            return set()
        # 32 hex digits: PostgreSQL reads them as a uuid, they sort as the UUIDs do, and
        # `.hex` costs a third of `str()`.
        by_hex = {row.event_id.hex: row for row in rows}
        ordered = sorted(by_hex)
        in_order = [by_hex[key] for key in ordered]
        result = await session.execute(
            self._insert_many,
            {
                "group": self._group,
                "event_ids": "{" + ",".join(ordered) + "}",
                "event_types": _text_array([row.event_type for row in in_order]),
                "streams": _text_array([row.stream for row in in_order]),
                "entry_ids": _text_array([row.entry_id for row in in_order]),
            },
        )
        fresh = {row.event_id for row in rows}
        for seen in result.scalar_one() or ():  # the already recorded, as uuid text
            fresh.discard(UUID(seen))
        return fresh

    async def seen(self, session: AsyncSession, event_id: UUID) -> bool:
        table = self._table
        statement = select(table.c.event_id).where(
            table.c.consumer_group == self._group, table.c.event_id == event_id
        )
        return (await session.execute(statement)).first() is not None


def _insert_many(table: Table) -> Any:
    """WITH batch AS (unnest(:event_ids::uuid[], ..)), inserted AS (INSERT .. SELECT
    :group, * FROM batch ON CONFLICT DO NOTHING RETURNING event_id) SELECT
    array_agg(event_id::text) FROM batch WHERE event_id NOT IN (SELECT .. FROM inserted).

    One row whatever the batch size: the ids that were already processed, NULL when
    none were (the usual case), so no per-row result handling on the hot path."""
    rows = (
        func.unnest(
            cast(bindparam("event_ids", type_=Text), ARRAY(Uuid)),
            cast(bindparam("event_types", type_=Text), ARRAY(Text)),
            cast(bindparam("streams", type_=Text), ARRAY(Text)),
            cast(bindparam("entry_ids", type_=Text), ARRAY(Text)),
        )
        .table_valued(
            column("event_id", Uuid),
            column("event_type", Text),
            column("stream", Text),
            column("entry_id", Text),
        )
        .render_derived(name="rows")
    )
    batch = select(rows).cte("batch")
    source = select(
        bindparam("group", type_=Text),
        batch.c.event_id,
        batch.c.event_type,
        batch.c.stream,
        batch.c.entry_id,
    )
    inserted = (
        insert(table)
        .from_select(["consumer_group", "event_id", "event_type", "stream", "entry_id"], source)
        .on_conflict_do_nothing()
        .returning(table.c.event_id)
        .cte("inserted")
    )
    return select(func.array_agg(cast(batch.c.event_id, Text))).where(
        batch.c.event_id.not_in(select(inserted.c.event_id))
    )


def _text_array(values: list[str]) -> str:
    """A PostgreSQL array literal with every element quoted (so any text is safe)."""
    quoted = (value.replace("\\", "\\\\").replace('"', '\\"') for value in values)
    return '{"' + '","'.join(quoted) + '"}'


class SequenceGuard:
    """Per-subject high-water mark: `advance` is true only for a newer sequence.

    Runs in the caller's transaction, so the mark moves if and only if the effect commits.
    `scope` lets one service keep independent marks for two projections of a subject.
    """

    def __init__(self, tables: LedgerTables) -> None:
        self._table = tables.subject_sequences

    async def advance(
        self, session: AsyncSession, subject: str, sequence: int, *, scope: str = ""
    ) -> bool:
        statement = self._advance(subject, sequence, scope)
        return (await session.execute(statement)).first() is not None

    def guarded(self, write: Update, subject: str, sequence: int, *, scope: str = "") -> Update:
        """`write` done only if `subject` advances to `sequence` (as `advance` tells),
        in one statement: the advance is a CTE the write's WHERE requires a row of.
        PostgreSQL runs a data-modifying CTE once whether or not the write matches
        anything, so the mark moves exactly as `advance` would move it."""
        advanced = self._advance(subject, sequence, scope).cte("advanced")
        return write.where(exists(select(advanced.c.sequence))).add_cte(advanced)

    def _advance(self, subject: str, sequence: int, scope: str) -> ReturningInsert[Any]:
        table = self._table
        values = insert(table).values(scope=scope, subject=subject, sequence=sequence)
        return values.on_conflict_do_update(
            index_elements=[table.c.scope, table.c.subject],
            set_={"sequence": values.excluded.sequence, "updated_at": func.now()},
            where=table.c.sequence < values.excluded.sequence,
        ).returning(table.c.sequence)

    async def current(self, session: AsyncSession, subject: str, *, scope: str = "") -> int | None:
        """The newest sequence applied for `subject`, or None if none was."""
        table = self._table
        statement = select(table.c.sequence).where(
            table.c.scope == scope, table.c.subject == subject
        )
        value = (await session.execute(statement)).scalar_one_or_none()
        return None if value is None else int(value)
