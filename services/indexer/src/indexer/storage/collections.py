"""Which Chroma collections exist, which one is active, and which one a rebuild fills."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from indexer.storage.tables import collections, indexed, row_as
from marcus_search import CollectionName

ACTIVE = "active"
BUILDING = "building"
RETIRED = "retired"
DROPPED = "dropped"
FAILED = "failed"


@dataclass(frozen=True)
class Target:
    """A collection documents are written to (the active one, or one being built)."""

    name: str
    kind: str
    dimension: int
    status: str
    activated_at: datetime | None = None

    @property
    def embedder(self) -> str:
        return CollectionName.parse(self.name).embedder


async def lock_targets(session: AsyncSession) -> list[Target]:
    """The collections live writes go to, share-locked until the transaction ends: a
    switch (which updates these rows) waits for writes in flight, so nothing writes to
    a collection after the switch retired it."""
    rows = await session.execute(
        select(collections)
        .where(collections.c.status.in_([ACTIVE, BUILDING]))
        .order_by(collections.c.name)
        .with_for_update(read=True)
    )
    return [row_as(Target, row) for row in rows]


async def active(session: AsyncSession) -> Target | None:
    row = (await session.execute(select(collections).where(collections.c.status == ACTIVE))).first()
    return None if row is None else row_as(Target, row)


async def with_status(session: AsyncSession, status: str) -> list[Target]:
    rows = await session.execute(select(collections).where(collections.c.status == status))
    return [row_as(Target, row) for row in rows]


async def add(
    session: AsyncSession, name: CollectionName, kind: str, status: str, run_id: UUID | None
) -> None:
    values: dict[str, object] = {
        "name": str(name),
        "embedder": name.embedder,
        "kind": kind,
        "dimension": name.dimension,
        "status": status,
        "run_id": run_id,
    }
    if status == ACTIVE:
        values["activated_at"] = func.now()
    await session.execute(collections.insert().values(**values))


async def switch(session: AsyncSession, new: str) -> Target | None:
    """Make `new` the active collection and retire the previous one (returned), in the
    caller's transaction. Exclusive row locks: live writers hold share locks on these
    rows while they write, so the switch waits for them and they see it afterwards."""
    await session.execute(
        select(collections.c.name)
        .where(collections.c.status.in_([ACTIVE, BUILDING]))
        .order_by(collections.c.name)
        .with_for_update()
    )
    previous = await active(session)
    if previous is not None:
        await set_status(session, previous.name, RETIRED)
    await session.execute(
        update(collections)
        .where(collections.c.name == new)
        .values(status=ACTIVE, activated_at=func.clock_timestamp())
    )
    return previous


async def set_status(session: AsyncSession, name: str, status: str) -> None:
    values: dict[str, object] = {"status": status}
    if status in (RETIRED, DROPPED, FAILED):
        values["retired_at"] = func.coalesce(collections.c.retired_at, func.now())
    await session.execute(update(collections).where(collections.c.name == name).values(**values))


async def forget_guards(session: AsyncSession, name: str) -> None:
    """Drop the per-document guard rows of a collection that no longer exists."""
    await session.execute(delete(indexed).where(indexed.c.collection == name))


async def lock_bootstrap(session: AsyncSession) -> None:
    """Serialise replicas creating the first collection (transaction-scoped lock)."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('indexer.bootstrap'))"))


async def guard(
    session: AsyncSession, collection: str, sequences: Sequence[tuple[UUID, int]]
) -> dict[UUID, bytes | None]:
    """Record that `collection` gets these products at these sequences; returns the ones
    that are newer than what the collection has (the only ones to write), each with the
    digest of the text its document was last embedded from (None: never embedded).

    Rows are upserted in product order, so two writers lock them in the same order (no
    deadlock), and a writer of the same product waits until the other commits, then
    sees its sequence: an older document can never overwrite a newer one. The update
    leaves `text_digest` as it was, so RETURNING gives the previous one (one statement
    for the guard and the digests the writer compares).
    """
    if not sequences:
        return {}
    ordered = sorted(sequences, key=lambda item: item[0])
    result = await session.execute(
        text(
            """
            INSERT INTO indexer.indexed (collection, product_id, sequence)
            SELECT :collection, t.product_id, t.sequence
            FROM unnest(CAST(:ids AS uuid[]), CAST(:seqs AS int[]))
                 WITH ORDINALITY AS t(product_id, sequence, n)
            ORDER BY t.n
            ON CONFLICT (collection, product_id) DO UPDATE SET sequence = EXCLUDED.sequence
            WHERE indexer.indexed.sequence < EXCLUDED.sequence
            RETURNING product_id, text_digest
            """
        ),
        {
            "collection": collection,
            "ids": [str(pid) for pid, _ in ordered],
            "seqs": [seq for _, seq in ordered],
        },
    )
    return {row.product_id: row.text_digest for row in result}


async def remember_digests(
    session: AsyncSession, collection: str, digests: Mapping[UUID, bytes]
) -> None:
    """Record the texts just embedded (committed with the guard, after Chroma answered):
    one statement for the batch, in product order as the guard locked the rows."""
    if not digests:
        return
    ordered = sorted(digests.items())
    await session.execute(
        text(
            """
            UPDATE indexer.indexed AS i SET text_digest = t.digest
            FROM unnest(CAST(:ids AS uuid[]), CAST(:digests AS bytea[])) AS t(product_id, digest)
            WHERE i.collection = :collection AND i.product_id = t.product_id
            """
        ),
        {
            "collection": collection,
            "ids": [str(pid) for pid, _ in ordered],
            "digests": [digest for _, digest in ordered],
        },
    )
