"""Answering the indexer's snapshot requests: every product as it is now (issue 24).

A rebuild must not depend on `events.catalog` still holding its first entry (streams are
trimmed; the history lives in the event store). So the indexer asks (`indexer.snapshot.
requested`) and the catalog writes, on the request's own stream
(`StreamNames.snapshot("catalog", request_id)`), one `catalog.product.snapshotted` per
product (its envelope's sequence is the product's version) and then the marker
`catalog.snapshot.completed` carrying the `events.catalog` position it is consistent
with. The indexer folds the snapshot, then catches up on the live stream after that
position.

Why the marker's position is safe: it is read from Redis *before* the products are read
from PostgreSQL, in one REPEATABLE READ transaction. Every entry up to it was published
by the relay, so committed, before that transaction began: the snapshot includes it.
Entries after it may be included too; the indexer's per-product sequence guard skips
what the snapshot already has.

Redelivered requests (a replica died mid-snapshot, or another one reclaimed it) are
answered again on the same stream under a new `attempt`: each attempt is complete on its
own and its marker names it, so a reader takes the entries of the first complete
attempt. The stream expires `snapshot_ttl_s` after the last attempt wrote to it.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime
from uuid import UUID

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from catalog.storage.repository import Repository
from marcus_contracts import STREAM_FIELD, StreamNames, registry
from marcus_contracts.events.catalog import SnapshotCompleted
from marcus_contracts.events.indexer import SnapshotRequested

log = logging.getLogger("marcus.catalog.snapshots")


async def live_position(redis: aioredis.Redis, stream: str) -> str:
    """The id of the last entry of `stream` (`0-0` when it is empty or missing)."""
    last = await redis.xrevrange(stream, max="+", min="-", count=1)
    if not last:
        return "0-0"
    entry_id = last[0][0]
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


async def publish_snapshot(
    engine: AsyncEngine,
    redis: aioredis.Redis,
    names: StreamNames,
    request: SnapshotRequested,
    *,
    page: int = 500,
    ttl_s: int = 3600,
) -> SnapshotCompleted:
    """Write one attempt at the snapshot `request` asks for; returns its marker."""
    started = time.perf_counter()
    attempt = uuid.uuid4()
    stream = names.snapshot("catalog", request.request_id)
    position = await live_position(redis, names.events("catalog"))
    sessions = async_sessionmaker(
        engine.execution_options(isolation_level="REPEATABLE READ"), expire_on_commit=False
    )
    count = 0
    after: UUID | None = None
    async with sessions() as session, session.begin():
        while True:
            products = await Repository(session).products_after(after, page)
            if not products:
                break
            async with redis.pipeline(transaction=False) as pipe:
                for product in products:
                    envelope = registry.envelope(
                        product.snapshotted(request.request_id, attempt),
                        subject=str(product.id),
                        sequence=product.version,
                    )
                    pipe.xadd(stream, {STREAM_FIELD: envelope.to_json()})
                pipe.expire(stream, ttl_s)
                await pipe.execute()
            count += len(products)
            after = products[-1].id
    marker = SnapshotCompleted(
        request_id=request.request_id,
        attempt=attempt,
        products=count,
        position=position,
        taken_at=datetime.now(UTC),
    )
    envelope = registry.envelope(marker, subject=str(request.request_id), sequence=1)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.xadd(stream, {STREAM_FIELD: envelope.to_json()})
        pipe.expire(stream, ttl_s)
        await pipe.execute()
    log.info(
        "snapshot %s (attempt %s): %d products consistent with %s at %s in %.2fs",
        request.request_id,
        attempt,
        count,
        names.events("catalog"),
        position,
        time.perf_counter() - started,
    )
    return marker
