"""Periodic pruning of a schema's idempotency ledger (`processed_events`).

The ledger grows by one row per event a group processed. A row only matters while the
same event can still arrive again for that group: a reclaimed or retried pending entry,
a relay that published twice, a republish. Rows older than the retention are deleted,
for every group of the schema, in short batches (each its own transaction, so row locks
stay brief while consumers record new ids). docs/runbook.md ("Ledger pruning") states the
rule the retention must follow.

The first pruning waits one interval after start: pending entries left by a stopped
service are reclaimed and finished (or dead-lettered) before anything is pruned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import MetaData, delete, func, select, tuple_
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Executable

from marcus_messaging.ledger import ledger_tables

log = logging.getLogger("marcus.messaging.pruning")

PRUNE_BATCH = 5_000


async def delete_in_batches(
    engine: AsyncEngine, statement: Executable, params: dict[str, Any] | None = None, *, batch: int
) -> int:
    """Run a DELETE limited to `batch` rows until it deletes fewer; how many in all. Each
    batch is its own transaction, so row locks stay brief while writers go on."""
    total = 0
    while True:
        async with engine.begin() as conn:
            deleted = (await conn.execute(statement, params or {})).rowcount or 0
        total += deleted
        if deleted < batch:
            return total


async def run_periodically(
    prune: Callable[[], Awaitable[int]], *, interval_s: float, stop: asyncio.Event, what: str
) -> None:
    """Every `interval_s` until `stop` is set (the first time one interval after start),
    run `prune`. A failure (the database away) is logged and retried at the next
    interval: pruning late is harmless."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
            return
        try:
            pruned = await prune()
        except (SQLAlchemyError, OSError) as exc:
            log.warning("%s pruning failed, retrying later: %r", what, exc)
            continue
        if pruned:
            log.info("pruned %d rows: %s", pruned, what)


async def prune_ledger(
    engine: AsyncEngine, schema: str, retention: timedelta, *, batch: int = PRUNE_BATCH
) -> int:
    """Delete ledger rows (all groups) processed more than `retention` ago; returns how many."""
    table = ledger_tables(MetaData(), schema).processed_events
    expired = (
        select(table.c.consumer_group, table.c.event_id)
        .where(table.c.processed_at < func.now() - retention)
        .limit(batch)
    )
    statement = delete(table).where(tuple_(table.c.consumer_group, table.c.event_id).in_(expired))
    return await delete_in_batches(engine, statement, batch=batch)
