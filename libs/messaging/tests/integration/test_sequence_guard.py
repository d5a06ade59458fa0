"""The sequence guard and the ledger on their own, against PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import Column, Integer, MetaData, Table, Text, Update, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from marcus_messaging import Ledger, SequenceGuard, ledger_tables
from marcus_messaging.ledger import LedgerRow


async def test_advance_only_moves_forward(engine: AsyncEngine, schema: str) -> None:
    guard = SequenceGuard(ledger_tables(MetaData(), schema))
    async with AsyncSession(engine) as session, session.begin():
        assert await guard.advance(session, "a", 1)
        assert not await guard.advance(session, "a", 1)  # same sequence: a redelivery
        assert await guard.advance(session, "a", 3)
        assert not await guard.advance(session, "a", 2)  # older than 3: stale
        assert await guard.advance(session, "b", 1)  # subjects are independent
        assert await guard.advance(session, "a", 2, scope="other")  # and so are scopes
    async with AsyncSession(engine) as session:
        assert await guard.current(session, "a") == 3
        assert await guard.current(session, "missing") is None


async def test_a_guarded_write_happens_only_when_the_guard_advances(
    engine: AsyncEngine, schema: str
) -> None:
    """`guarded`: the advance and the write in one statement; a stale or repeated
    sequence neither writes nor moves the mark, and the mark moves even when the write
    matches no row (as `advance` would move it)."""
    guard = SequenceGuard(ledger_tables(MetaData(), schema))
    notes = Table("notes", MetaData(), Column("id", Text, primary_key=True), Column("n", Integer))
    async with engine.begin() as conn:
        await conn.execute(text(f"CREATE TABLE {schema}.notes (id text PRIMARY KEY, n integer)"))
        await conn.execute(text(f"INSERT INTO {schema}.notes VALUES ('a', 0)"))
    notes.schema = schema

    def write(n: int) -> Update:
        return update(notes).where(notes.c.id == "a").values(n=n)

    async with AsyncSession(engine) as session, session.begin():
        for sequence in (2, 2, 1, 5):  # fresh, repeated, stale, fresh
            await session.execute(guard.guarded(write(sequence), "a", sequence))
        await session.execute(
            guard.guarded(update(notes).where(notes.c.id == "none").values(n=9), "z", 4)
        )
    async with AsyncSession(engine) as session:
        n = (await session.execute(text(f"SELECT n FROM {schema}.notes"))).scalar_one()
        assert n == 5
        assert await guard.current(session, "a") == 5
        assert await guard.current(session, "z") == 4


async def test_advance_rolls_back_with_the_effect(engine: AsyncEngine, schema: str) -> None:
    guard = SequenceGuard(ledger_tables(MetaData(), schema))
    async with AsyncSession(engine) as session:
        async with session.begin():
            assert await guard.advance(session, "s", 5)
            await session.rollback()
        assert await guard.current(session, "s") is None


async def test_concurrent_duplicates_record_once(engine: AsyncEngine, schema: str) -> None:
    """Two transactions recording one id: the second waits for the first, then sees it."""
    ledger = Ledger(ledger_tables(MetaData(), schema), "g")
    event_id = uuid.uuid4()

    async def record() -> bool:
        async with AsyncSession(engine) as session, session.begin():
            fresh = await ledger.record(
                session, event_id, event_type="t", stream="s", entry_id="1-0"
            )
            await asyncio.sleep(0.1)  # hold the row lock a little
            return fresh

    results = await asyncio.gather(record(), record())
    assert sorted(results) == [False, True]
    async with AsyncSession(engine) as session:
        assert await ledger.seen(session, event_id)


async def test_record_many_returns_the_fresh_ids(engine: AsyncEngine, schema: str) -> None:
    """One statement for a batch; any text survives the array literals unchanged."""
    ledger = Ledger(ledger_tables(MetaData(), schema), "g")
    odd = ['pre:fix,"q"\\{x} events.catalog', "", "tab\tand\nnewline", "é NULL"]
    rows = [LedgerRow(uuid.uuid4(), f"type-{i}", odd[i % 4], f"{i}-0") for i in range(8)]
    async with AsyncSession(engine) as session, session.begin():
        assert await ledger.record_many(session, rows[:5]) == {row.event_id for row in rows[:5]}
    async with AsyncSession(engine) as session, session.begin():
        assert await ledger.record_many(session, rows) == {row.event_id for row in rows[5:]}
        assert await ledger.record_many(session, []) == set()
    async with engine.connect() as conn:
        stored = await conn.execute(
            text(f"SELECT event_id, event_type, stream, entry_id FROM {schema}.processed_events")
        )
        assert sorted(stored, key=str) == sorted(
            ((r.event_id, r.event_type, r.stream, r.entry_id) for r in rows), key=str
        )
