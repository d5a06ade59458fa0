"""The `stream-retention` job: every events.* and dlq.* stream trimmed to its policy.

The lease holder runs it itself (ADR 0013): trimming is the platform's upkeep, not a
request to another service, and it is safe to repeat, so it has no event and no run row.
What it did is in one log line per run, `scheduler_stream_trimmed_entries_total{stream}`
and the stream gauges (length, memory, oldest entry age), and `scheduler_fires_total`.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from marcus_eventstore.retention import (
    Retention,
    RetentionOutcome,
    apply_retention,
    retention_streams,
    stream_stats,
)
from scheduler.metrics import (
    STREAM_GAUGES,
    STREAM_LENGTH,
    STREAM_MEMORY,
    STREAM_OLDEST_AGE,
    STREAM_TRIMMED,
)

log = logging.getLogger("marcus.scheduler")


@dataclass
class StreamRetentionJob:
    redis: aioredis.Redis
    prefix: str
    retention: Retention
    _shown: set[str] = field(default_factory=set)
    """Streams this replica has gauges for (removed when a stream goes, or on stand-down)."""

    async def run(self, now: datetime) -> list[RetentionOutcome]:
        """One pass over every stream; a stream Redis refuses (NOPERM, deleted meanwhile)
        is logged and skipped, Redis not answering fails the run."""
        moment = now.timestamp()
        outcomes: list[RetentionOutcome] = []
        refused: list[str] = []
        streams = await retention_streams(self.redis, self.prefix)
        for stream in streams:
            name = stream.removeprefix(self.prefix)
            try:
                outcome = await apply_retention(
                    self.redis,
                    stream,
                    self.retention.policy_for(name),
                    now=moment,
                    dead_letters=name.startswith("dlq."),
                )
                stats = await stream_stats(self.redis, stream, now=moment)
            except ResponseError as exc:
                refused.append(f"{name} ({exc})")
                continue
            outcomes.append(outcome)
            if outcome.removed:
                STREAM_TRIMMED.labels(name).inc(outcome.removed)
            STREAM_LENGTH.labels(name).set(stats.length)
            if stats.memory_bytes is not None:
                STREAM_MEMORY.labels(name).set(stats.memory_bytes)
            STREAM_OLDEST_AGE.labels(name).set(stats.oldest_age_s or 0)
        self._forget(self._shown - {s.removeprefix(self.prefix) for s in streams})
        self._shown = {s.removeprefix(self.prefix) for s in streams}
        level = logging.WARNING if refused else logging.INFO
        log.log(level, "stream retention: %s", summary(outcomes, self.prefix, refused))
        return outcomes

    def stand_down(self) -> None:
        """No gauges from a replica that no longer measures (the new leader's count)."""
        self._forget(self._shown)
        self._shown = set()

    @staticmethod
    def _forget(names: set[str]) -> None:
        for name in names:
            for gauge in STREAM_GAUGES:
                with contextlib.suppress(KeyError):  # never set (no answer from Redis)
                    gauge.remove(name)


def summary(outcomes: list[RetentionOutcome], prefix: str, refused: list[str]) -> str:
    """One line: how many streams, entries trimmed, and per stream what was trimmed or
    what held it back."""
    removed = sum(o.removed for o in outcomes)
    parts = []
    for o in outcomes:
        name = o.stream.removeprefix(prefix)
        if o.removed or o.held_by_group:
            held = f" (held by {o.held_by})" if o.held_by_group else ""
            parts.append(f"{name} -{o.removed}{held}")
    line = f"{len(outcomes)} streams, {removed} entries trimmed"
    if parts:
        line += ": " + ", ".join(parts)
    if refused:
        line += "; skipped " + ", ".join(refused)
    return line
