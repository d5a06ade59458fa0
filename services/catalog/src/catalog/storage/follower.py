"""Follows the catalog's committed events and evicts what they change from the read cache.

Each replica LISTENs on the channel the event store NOTIFYs at every commit (polling as a
fallback) and runs a round: one statement reads the events above its applied position
together with that statement's snapshot. Every visible event evicts its subject.

The applied position W means "every event at or below W that will ever commit has been
applied", which is what a consistency token is compared with. Positions come from an
identity sequence, allocated at INSERT, so they do not commit in order: position 9 can
become visible after 10. A position below the highest visible one that is not visible
(a gap) belongs to a transaction that was in progress at the snapshot, or that rolled
back. The catalog's unit of work takes its transaction id before it appends
(`CatalogUnitOfWork.commit`; a row lock taken earlier in the transaction took it
already), so that transaction's id is among the snapshot's in-progress ids (xip). A gap therefore stops W until a later snapshot has none of the
ids that were in progress when the gap was first seen: then it is either visible (and
applied in that round) or rolled back for good. Events above a gap are still evicted as
soon as they are visible; only W waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from catalog.storage.read_cache import ReadCache

log = logging.getLogger("marcus.catalog.follower")


@dataclass
class Watermark:
    """The applied position, the gaps holding it back and what each gap waits for."""

    applied: int = 0
    seen: int = 0
    """Highest position already evicted (events above a gap are read again each round)."""
    gaps: dict[int, frozenset[int]] = field(default_factory=dict)
    """Invisible position -> transaction ids in progress when it was first seen."""
    startup: frozenset[int] | None = None
    """At start: ids in progress when `applied` was taken; not ready until all ended."""

    def advance(self, positions: list[int], in_progress: frozenset[int]) -> list[int]:
        """Apply one round's visible positions (sorted, all above `applied`); returns the
        ones to evict (not evicted before)."""
        fresh = [p for p in positions if p > self.seen or p in self.gaps]
        expected, blocked = self.applied + 1, False
        for position in positions:
            for gap in range(expected, position):
                waiting_for = self.gaps.get(gap)
                if waiting_for is None:
                    self.gaps[gap] = in_progress
                    blocked = True
                elif waiting_for.isdisjoint(in_progress):
                    del self.gaps[gap]  # its transaction ended without committing it
                else:
                    blocked = True
            self.gaps.pop(position, None)
            if not blocked:
                self.applied = position
            expected = position + 1
        if positions:
            self.seen = max(self.seen, positions[-1])
        if self.startup is not None and self.startup.isdisjoint(in_progress):
            self.startup = None
        return fresh

    @property
    def ready(self) -> bool:
        return self.startup is None


class CommitFollower:
    """Keeps one ReadCache in step with `<schema>.events`; runs until asked to stop."""

    def __init__(
        self,
        cache: ReadCache,
        dsn: str,
        schema: str,
        poll_interval: float = 1.0,
        batch_size: int = 1000,
        max_backoff: float = 5.0,
    ) -> None:
        self.cache = cache
        self.dsn = dsn
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.max_backoff = max_backoff
        self.watermark: Watermark | None = None
        self.application_name = f"catalog-read-cache-{os.getpid()}"
        """Names the LISTEN connection in pg_stat_activity (operators, fault tests)."""
        self._channel = sql.Identifier(f"{schema}_outbox")
        self._start = sql.SQL(
            "SELECT (SELECT coalesce(max(position), 0) FROM {events}),"
            " ARRAY(SELECT pg_snapshot_xip(pg_current_snapshot())::text)"
        ).format(events=sql.Identifier(schema, "events"))
        self._round_sql = sql.SQL(
            "SELECT ARRAY(SELECT pg_snapshot_xip(s.snap)::text), e.position, e.subject, e.type"
            " FROM (SELECT pg_current_snapshot() AS snap) s LEFT JOIN LATERAL ("
            "SELECT position, subject, type FROM {events} WHERE position > %s"
            " ORDER BY position LIMIT %s) e ON true"
        ).format(events=sql.Identifier(schema, "events"))

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 0.2
        while not stop.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.dsn, autocommit=True, application_name=self.application_name
                ) as conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(self._channel))
                    backoff = 0.2
                    await self._follow(conn, stop)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                log.warning("read cache follower lost PostgreSQL (%s); bypassing the cache", exc)
            except Exception:  # a bug must not leave the cache unfollowed for good
                log.exception("read cache follower failed; bypassing the cache, restarting")
            finally:
                self.cache.not_following()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
            backoff = min(backoff * 2, self.max_backoff)

    async def _follow(self, conn: psycopg.AsyncConnection[Any], stop: asyncio.Event) -> None:
        """LISTEN is on before the first round, so no commit falls between the two."""
        if self.watermark is None:
            row = await (await conn.execute(self._start)).fetchone()
            assert row is not None
            self.watermark = Watermark(
                applied=row[0], seen=row[0], startup=frozenset(int(x) for x in row[1])
            )
        while not stop.is_set():
            while await self._round(conn):
                pass
            async for _ in conn.notifies(timeout=self.poll_interval, stop_after=1):
                pass

    async def _round(self, conn: psycopg.AsyncConnection[Any]) -> bool:
        """One snapshot: evict what became visible, advance the watermark. True when a
        full batch moved the watermark (read on); a full batch held back by a gap does
        not count as following (the cache stays bypassed until the gap resolves)."""
        watermark = self.watermark
        assert watermark is not None
        before = watermark.applied
        cursor = await conn.execute(self._round_sql, [before, self.batch_size])
        rows = await cursor.fetchall()
        in_progress = frozenset(int(x) for x in rows[0][0])
        events = [(r[1], r[2], r[3]) for r in rows if r[1] is not None]
        fresh = set(watermark.advance([e[0] for e in events], in_progress))
        self.cache.evict_changes((subject, kind) for pos, subject, kind in events if pos in fresh)
        complete = len(events) < self.batch_size
        if complete and watermark.ready:
            self.cache.following(watermark.applied)
        return not complete and watermark.applied > before
