"""How a rebuild writes to Chroma without stalling search (ADR 0031).

Chroma's local server applies every write, and brings a collection up to date before
every read, in one component that handles one request at a time, whatever the
collection. A search arriving while a rebuild's upsert of 256 documents is applied
waits for all of it, once per round of its calls. So the rebuild writes in chunks
sized to a time budget, and after each chunk leaves Chroma free for a while:

- chunk size: proportional control on the measured seconds per call. The next chunk
  is `size * budget / took` (at most doubling, at least halving), within
  `[min_chunk, max_chunk]`: calls take about `budget` whatever the machine's speed.
- gap: after a call that took `t`, sleep `gap * t`; Chroma is the rebuild's for
  `1 / (1 + gap)` of the time at most, so a search rarely finds a write in progress
  and never more than one budget's worth.

`budget_s <= 0` turns pacing off: a batch is one upsert, no gap (the rebuild's fastest,
as before this module).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


@dataclass
class WritePacer:
    budget_s: float = 0.04
    """Target seconds of one Chroma write (0: no pacing)."""
    gap: float = 1.0
    """Pause after a write, as a multiple of its duration."""
    min_chunk: int = 8
    max_chunk: int = 256
    size: int = field(default=32)
    """The next chunk's size (adapted after every write)."""
    written: int = 0
    calls: int = 0
    paused_s: float = 0.0

    def __post_init__(self) -> None:
        if self.min_chunk < 1 or self.max_chunk < self.min_chunk:
            raise ValueError("need 1 <= min_chunk <= max_chunk")
        if self.gap < 0:
            raise ValueError("gap must not be negative")
        self.size = max(self.min_chunk, min(self.size, self.max_chunk))

    @property
    def enabled(self) -> bool:
        return self.budget_s > 0

    def chunks(self, count: int) -> int:
        """The size of the next chunk out of `count` documents left."""
        if not self.enabled:
            return count
        return min(count, self.size)

    def observe(self, documents: int, took_s: float) -> float:
        """Record a write of `documents` that took `took_s`; the pause to take now."""
        self.written += documents
        self.calls += 1
        if not self.enabled:
            return 0.0
        if documents >= self.size and took_s > 0:  # a partial chunk says little
            factor = min(2.0, max(0.5, self.budget_s / took_s))
            self.size = max(self.min_chunk, min(self.max_chunk, round(self.size * factor)))
        elif took_s > self.budget_s:
            self.size = max(self.min_chunk, self.size // 2)
        return self.gap * took_s

    async def write(
        self, items: Sequence[T], call: Callable[[Sequence[T]], Awaitable[object]]
    ) -> None:
        """`call` on consecutive chunks of `items`, paced."""
        start = 0
        while start < len(items):
            chunk = items[start : start + self.chunks(len(items) - start)]
            started = time.perf_counter()
            await call(chunk)
            pause = self.observe(len(chunk), time.perf_counter() - started)
            start += len(chunk)
            if pause > 0:
                self.paused_s += pause
                await asyncio.sleep(pause)
