"""New entries, a batch per transaction: the hot path.

One transaction per event costs a commit (a WAL flush) and several round trips per
event, which capped the runtime at a few hundred events/s. A batch (one XREADGROUP,
up to `settings.batch` entries) is handled instead as:

1. `prepare`: triage outside any transaction, as for one entry: undecodable entries
   are dead-lettered, entries without a handler are acked with the batch (this runs
   while the previous batch commits, see `marcus_messaging.readahead`);
2. `commit`, ONE transaction: one multi-row ledger INSERT .. ON CONFLICT DO NOTHING
   tells which event ids were recorded already, the handlers of the fresh entries run
   in stream order in the same session (flushed after each, so an ORM error surfaces at
   its own handler), then the callbacks the handlers registered on the batch's `TransactionScope` (their
   per-batch writes), then ONE commit;
3. ONE XACK with every id, after the commit.

If the transaction fails because PostgreSQL is unreachable, nothing is counted: the
batch waits for the database (`DatabaseGate`), and the subscriber, which cannot hand
the next batch over meanwhile, stops reading; the same batch then runs again, so
the entries stay pending with their first delivery. If it fails for any other reason,
the batch is redone entry by entry (`EntryProcessor.run`), so a poison entry fails
alone while the others commit. The entry whose handler raised is not run a second
time on this delivery: its failure is counted as if it had run alone (it ran against
the same state: the batch's earlier effects, applied in order). Only when the failure
cannot be pinned on one handler (the ledger insert, the commit, a transaction an earlier
handler had already broken, or a deadlock or serialization failure that the batch's
wider locks may have caused) is every entry run again alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from uuid import UUID

import psycopg

from marcus_messaging import metrics
from marcus_messaging.ledger import LedgerRow
from marcus_messaging.processing import Decoded, Entry, EntryProcessor, Outcome
from marcus_messaging.tracing import run_handler
from marcus_messaging.transaction import TransactionScope
from marcus_telemetry import tracing_active

log = logging.getLogger("marcus.messaging")


class _HandlerFailed(Exception):
    """Carries which entry of the batch raised; the handler's error is `__cause__`."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


@dataclass(slots=True)
class Prepared:
    """A batch after triage, waiting for its transaction: the entries that decoded and
    have a handler (`batch`), those without one (acked with the batch) and the keys the
    reclaimer must leave alone until the batch is done."""

    keys: list[tuple[str, str]]
    batch: list[Decoded]
    unhandled: list[Entry]


class BatchProcessor:
    def __init__(self, processor: EntryProcessor) -> None:
        self._processor = processor

    async def prepare(self, entries: Sequence[Entry]) -> Prepared:
        """Triage (no transaction yet); from here the entries are this process's, however
        long the commit waits, so the reclaimer leaves them alone."""
        keys = [(entry.stream, entry.entry_id) for entry in entries]
        self._processor.in_flight.update(keys)
        try:
            batch, unhandled = await self._triage(entries)
        except BaseException:
            self._processor.in_flight.difference_update(keys)
            raise
        return Prepared(keys, batch, unhandled)

    async def commit(self, prepared: Prepared, stop: asyncio.Event) -> None:
        """The batch's transaction and ack (see the module docstring). Returns early,
        leaving the entries pending, only when `stop` is set while the database is
        unavailable."""
        try:
            await self._commit(prepared.batch, prepared.unhandled, stop)
        finally:
            self.release(prepared)

    def release(self, prepared: Prepared) -> None:
        """The batch is no longer this process's: done, or left pending for a retry."""
        self._processor.in_flight.difference_update(prepared.keys)

    async def _commit(
        self, batch: list[Decoded], unhandled: list[Entry], stop: asyncio.Event
    ) -> None:
        processor = self._processor
        if not batch:
            await self._ack(unhandled)
            return
        metrics.BATCH_SIZE.labels(processor.group, batch[0].entry.stream).observe(len(batch))
        lost_delivery = False
        while await processor.gate.wait_until_available(stop):
            started = time.perf_counter()
            try:
                fresh = await self._transaction(batch)
            except Exception as exc:
                culprit, error = _blame(exc)
                if await processor.is_unavailable(error):
                    processor.gate.mark_down(error)
                    if not lost_delivery:  # one Redis delivery, however many attempts
                        lost_delivery = True
                        for decoded in batch:
                            processor.failures.unavailable(decoded.key, None)
                    continue
                await self._ack(unhandled)
                await self._fall_back(batch, culprit, error, stop)
                return
            processor.settled(zip(batch, fresh, strict=True), started)
            await self._ack([*unhandled, *(decoded.entry for decoded in batch)])
            return
        await self._ack(unhandled)  # stopping during an outage: the batch stays pending

    async def _triage(self, entries: Sequence[Entry]) -> tuple[list[Decoded], list[Entry]]:
        batch: list[Decoded] = []
        unhandled: list[Entry] = []
        for entry in entries:
            result = await self._processor.decode(entry)
            if isinstance(result, Decoded):
                batch.append(result)
            elif result is Outcome.UNHANDLED:
                unhandled.append(entry)
        return batch, unhandled

    async def _transaction(self, batch: Sequence[Decoded]) -> list[bool]:
        """Ledger insert + the fresh entries' handlers + commit; per entry: was it fresh?"""
        processor = self._processor
        rows: dict[UUID, LedgerRow] = {}
        for decoded in batch:  # a second copy of an event in the batch is a duplicate
            entry = decoded.entry
            rows.setdefault(
                decoded.envelope.id,
                LedgerRow(decoded.envelope.id, decoded.envelope.type, entry.stream, entry.entry_id),
            )
        flags: list[bool] = []
        async with processor.sessions.begin() as session:
            fresh_ids = await processor.ledger.record_many(session, list(rows.values()))
            for decoded in batch:
                fresh = decoded.envelope.id in fresh_ids
                if fresh:
                    fresh_ids.discard(decoded.envelope.id)
                flags.append(fresh)
            scope = TransactionScope(
                events=[d.event for d, fresh in zip(batch, flags, strict=True) if fresh]
            )
            tracing = tracing_active()  # once per batch: it reads the environment
            orm = session.sync_session  # its unit-of-work state, without the async proxy
            for index, decoded in enumerate(batch):
                if flags[index]:
                    try:
                        context = processor.context(decoded, session, scope)
                        await run_handler(decoded.handler, context, processor.group, tracing)
                        if orm.new or orm.deleted or orm.dirty:  # cheapest first
                            await session.flush()  # an ORM error surfaces at its handler
                    except Exception as exc:
                        raise _HandlerFailed(index) from exc
            await scope.finish()  # per-batch effects: a failure here blames no handler
        return flags

    async def _fall_back(
        self,
        batch: Sequence[Decoded],
        culprit: int | None,
        error: BaseException,
        stop: asyncio.Event,
    ) -> None:
        processor = self._processor
        stream = batch[0].entry.stream
        metrics.BATCH_FALLBACKS.labels(processor.group, stream).inc()
        log.warning(
            "batch of %d entries from %s failed (%s: %s); redoing it entry by entry",
            len(batch),
            stream,
            type(error).__name__,
            error,
        )
        for index, decoded in enumerate(batch):
            if index == culprit:
                await processor.count_failure(decoded, error)
                continue
            lost_delivery = False
            while True:
                if not await processor.gate.wait_until_available(stop):
                    return  # stopping during an outage: the rest stays pending
                if await processor.run(decoded) is not Outcome.DEFERRED:
                    break
                if not lost_delivery:
                    lost_delivery = True
                    processor.failures.unavailable(decoded.key, None)

    async def _ack(self, entries: Iterable[Entry]) -> None:
        by_stream: defaultdict[str, list[str]] = defaultdict(list)
        for entry in entries:
            by_stream[entry.stream].append(entry.entry_id)
        for stream, ids in by_stream.items():
            await self._processor.ack(stream, ids)


def _blame(exc: Exception) -> tuple[int | None, BaseException]:
    """(index of the entry whose handler raised, or None; the error itself). None also
    when the batch itself may have caused the error (see `_batch_induced`)."""
    if not isinstance(exc, _HandlerFailed) or exc.__cause__ is None:
        return None, exc
    error = exc.__cause__
    current: BaseException | None = error
    while current is not None:
        if isinstance(current, psycopg.Error) and _batch_induced(current.sqlstate):
            return None, error
        current = current.__cause__
    return exc.index, error


def _batch_induced(sqlstate: str | None) -> bool:
    """Errors the same entry would likely not meet alone: a transaction an earlier handler
    broke (25P02), or a conflict with another transaction made likelier by the batch's
    wider, longer-held locks (class 40: deadlock, serialization failure; 55P03: lock
    timeout). Each entry then runs alone, and only a real culprit fails."""
    return sqlstate is not None and (sqlstate[:2] == "40" or sqlstate in {"25P02", "55P03"})
