"""Pruning of a service's HTTP idempotency keys (issue 19, finding 11).

A service that honours `Idempotency-Key` keeps one row per (customer, key) in
`<schema>.idempotency_keys`, with a `created_at`. A key only has to outlive the client's
retries of one request; after `IDEMPOTENCY_KEY_TTL_S` (default 24 hours, as payment APIs
do) a request with the same key is a new request. Rows older than that are deleted every
`IDEMPOTENCY_PRUNE_INTERVAL_S`, in short batches (each its own transaction), the first
time one interval after start. A schema without the table is skipped.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from marcus_messaging.pruning import delete_in_batches

PRUNE_BATCH = 5_000


async def prune_idempotency_keys(
    engine: AsyncEngine, schema: str, ttl: timedelta, *, batch: int = PRUNE_BATCH
) -> int:
    """Delete `<schema>.idempotency_keys` rows created more than `ttl` ago; how many."""
    table = f'"{schema}".idempotency_keys'
    async with engine.connect() as conn:
        exists = await conn.scalar(
            text("SELECT to_regclass(:t)"), {"t": f"{schema}.idempotency_keys"}
        )
    if exists is None:
        return 0
    statement = text(
        f"DELETE FROM {table} WHERE ctid IN (SELECT ctid FROM {table}"
        " WHERE created_at < now() - :ttl LIMIT :batch)"
    )
    return await delete_in_batches(engine, statement, {"ttl": ttl, "batch": batch}, batch=batch)
