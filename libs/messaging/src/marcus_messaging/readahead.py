"""Read ahead on one stream: the next batch is read and triaged while one commits.

Without it a subscriber alternates: XREADGROUP, decode, then wait for PostgreSQL
(ledger insert, handlers, commit) and the XACK, and only then read again, so Redis,
the decoding and the database take turns. Here the subscriber hands a triaged batch
over and goes back to Redis at once; the batch commits in a task of its own.

What does not change: batches of a stream commit one at a time and in the order they
were read (a batch waits for its predecessor's commit and ack before its own
transaction starts), so a subject's events are applied in stream order as before. At
most two batches per stream are this process's at a time (one committing, one
triaged), which bounds what a crash leaves pending for the reclaimer. A subscriber
whose batch cannot be handed over waits, so an outage (the commit waiting for the
database) stops the reading too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from marcus_messaging.batch import BatchProcessor
from marcus_messaging.processing import Entry

log = logging.getLogger("marcus.messaging")


class ReadAhead:
    """The batches of ONE stream: `submit` returns once the batch is triaged and its
    predecessor is done, with the batch's commit running in the background."""

    def __init__(self, batches: BatchProcessor, stopping: asyncio.Event) -> None:
        self._batches = batches
        self._stopping = stopping
        self._committing: asyncio.Task[None] | None = None

    async def submit(self, entries: Sequence[Entry]) -> None:
        prepared = await self._batches.prepare(entries)
        try:
            await self._wait_for_previous()
        except BaseException:
            self._batches.release(prepared)
            raise
        self._committing = asyncio.create_task(
            self._batches.commit(prepared, self._stopping), name="consumer-batch-commit"
        )

    async def drain(self, grace_s: float) -> None:
        """Let the batch in flight finish (stopping); after `grace_s` it is cancelled,
        which rolls its transaction back and leaves its entries pending."""
        task, self._committing = self._committing, None
        if task is None or task.done():
            return
        _, late = await asyncio.wait([task], timeout=grace_s)
        if late:
            log.warning("a batch was still committing after %.1f s; cancelling it", grace_s)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _wait_for_previous(self) -> None:
        task = self._committing
        if task is None:
            return
        # The commit handles its own failures (retry, fall back, dead-letter); what
        # escapes is a bug, logged here so the next batch still runs. Its entries stay
        # pending, and the reclaimer retries them.
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.done():
                raise  # this subscriber is being cancelled, not the commit
        except Exception:
            log.exception("batch commit failed unexpectedly; its entries stay pending")
