"""Appending events inside the caller's transaction (the write half of the outbox)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, TextClause, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from marcus_contracts import Envelope
from marcus_eventstore.tables import SUBJECT_SEQUENCE_CONSTRAINT, EventStoreTables


class ConcurrencyError(Exception):
    """Another writer appended to the same subject first: reload and try again."""


def constraint_of(exc: IntegrityError) -> str | None:
    """Name of the constraint a unique violation hit (psycopg exposes it in diag)."""
    diag = getattr(exc.orig, "diag", None)
    return getattr(diag, "constraint_name", None)


class EventStore:
    def __init__(self, tables: EventStoreTables) -> None:
        self.tables = tables
        self._append = _append_statement(tables)

    async def append(self, session: AsyncSession, envelopes: Sequence[Envelope]) -> list[int]:
        """Record events and queue them for the relay, in the session's transaction.

        The projection updates of the same command go in the same transaction, so state and
        events never disagree. The NOTIFY is delivered at commit, waking the relay. Returns
        the events' global positions (a read-your-writes token is the last one).

        One statement and one round trip (`_append_statement`) whatever the number of
        events: the envelopes go in as one JSON array, each serialised once, as the relay
        publishes it; the columns are read from it in PostgreSQL.
        """
        if not envelopes:
            return []
        batch = "[" + ",".join(envelope.to_json() for envelope in envelopes) + "]"
        try:
            result = await session.execute(
                self._append, {"envelopes": batch, "channel": self.tables.notify_channel}
            )
        except IntegrityError as exc:
            if constraint_of(exc) == SUBJECT_SEQUENCE_CONSTRAINT:
                raise ConcurrencyError(str(exc.orig)) from exc
            raise
        return list(result.scalar_one())

    async def republish(self, session: AsyncSession, from_position: int = 1) -> int:
        """Queue every event from `from_position` on for publishing again.

        For a stream that Redis lost: consumers drop the copies they already processed
        (their ledgers know the event ids), so re-publishing too much is safe.
        """
        events = self.tables.events
        count = await self._queue(session, events.c.position >= from_position)
        await self._wake_relay(session)
        return count

    async def requeue(self, session: AsyncSession, event_ids: Sequence[UUID]) -> int:
        """Queue these events for publishing again (e.g. a saga step nobody answered).

        Same event ids: consumers that did process them skip the copies by id; ones that
        never saw them (a lost stream entry, a dead-lettered delivery) get another chance.
        Returns how many were queued (events already waiting in the outbox are not)."""
        if not event_ids:
            return 0
        count = await self._queue(session, self.tables.events.c.id.in_(list(event_ids)))
        if count:
            await self._wake_relay(session)
        return count

    async def _queue(self, session: AsyncSession, which: ColumnElement[bool]) -> int:
        """Put the positions of the events `which` selects into the outbox; an event
        already waiting there is not queued twice. Returns how many were queued."""
        events, outbox = self.tables.events, self.tables.outbox
        result = await session.execute(
            pg_insert(outbox)
            .from_select(["position"], select(events.c.position).where(which))
            .on_conflict_do_nothing()
            .returning(outbox.c.position),
        )
        return len(result.all())

    async def _wake_relay(self, session: AsyncSession) -> None:
        """NOTIFY the relay (delivered at commit) so it publishes without waiting to poll."""
        await session.execute(
            text("SELECT pg_notify(:channel, '')"), {"channel": self.tables.notify_channel}
        )

    async def count(self, session: AsyncSession) -> int:
        result = await session.execute(select(func.count()).select_from(self.tables.events))
        return int(result.scalar_one())

    async def read_all(
        self, conn: AsyncConnection, batch_size: int = 1000
    ) -> AsyncIterator[Envelope]:
        """Every event in position order, streamed (for projection rebuilds and replays)."""
        events = self.tables.events
        last = 0
        while True:
            result = await conn.execute(
                select(events.c.position, events.c.envelope)
                .where(events.c.position > last)
                .order_by(events.c.position)
                .limit(batch_size)
            )
            rows: list[Any] = list(result.all())
            if not rows:
                return
            for row in rows:
                yield Envelope.model_validate(row.envelope)
            last = rows[-1].position


def _append_statement(tables: EventStoreTables) -> TextClause:
    """INSERT the events (their columns read from the envelopes, positions allocated in
    the envelopes' order), INSERT their positions into the outbox, NOTIFY the relay: one
    statement instead of three (and an outbox row each). Its text never changes, so
    psycopg prepares it once. Returns one row: the positions in order."""
    schema = tables.schema.replace('"', '""')
    events, outbox = f'"{schema}".events', f'"{schema}".outbox'
    return text(
        f"WITH appended AS ("
        f" INSERT INTO {events} (id, subject, sequence, type, dataversion, time, envelope)"
        f" SELECT CAST(x->>'id' AS uuid), x->>'subject', CAST(x->>'sequence' AS integer),"
        f" x->>'type', CAST(x->>'dataversion' AS integer), CAST(x->>'time' AS timestamptz), x"
        f" FROM json_array_elements(CAST(:envelopes AS json)) WITH ORDINALITY AS t(x, n)"
        f" ORDER BY n RETURNING position),"
        f" queued AS (INSERT INTO {outbox} (position) SELECT position FROM appended"
        f" RETURNING position)"
        f" SELECT array_agg(position ORDER BY position), pg_notify(:channel, '') FROM queued"
    )
