"""How a rebuild writes to Chroma without stalling search (ADR 0031).

Chroma's local server applies every write, and brings a collection up to date before
every read, in one component that handles one request at a time, whatever the
collection. A search arriving while a rebuild's upsert of 256 documents is applied
waits for all of it, once per round of its calls (a hybrid search makes two). So a
rebuild writes a batch in chunks of `chunk` documents, and after each chunk leaves
Chroma free for `gap` times the chunk's duration: a search waits behind one short
write at most, and finds none in progress more often.

Both are sizes relative to the machine, not times: a chunk's write and a search slow
down together on a loaded machine, so their ratio holds. (A time budget per write was
tried first: on a loaded machine Chroma's fixed cost per call exceeded it, the chunks
shrank to the minimum and the rebuild ran at 0.09 of its speed.)

`chunk <= 0` turns pacing off: a batch is one upsert, no gap (the rebuild's fastest).

A rebuild has two batches under way at once (`REBUILD_IN_FLIGHT`): their chunks take
turns, each with its gap, so the other batch's chunk never fills a gap meant for search
(unpaced, they take turns too: Chroma would apply them one at a time anyway).
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
    chunk: int = 64
    """Documents per Chroma write (0: the whole batch in one write, no gap)."""
    gap: float = 0.5
    """Pause after a write, as a multiple of its duration."""
    calls: int = 0
    written: int = 0
    paused_s: float = 0.0
    _turn: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    """Held for a chunk's write and its gap: concurrent batches take turns."""

    def __post_init__(self) -> None:
        if self.gap < 0:
            raise ValueError("gap must not be negative")

    @property
    def enabled(self) -> bool:
        return self.chunk > 0

    def size(self, left: int) -> int:
        """The next chunk's size with `left` documents still to write."""
        return min(left, self.chunk) if self.enabled else left

    def observe(self, documents: int, took_s: float) -> float:
        """Record a write of `documents` that took `took_s`; the pause to take now."""
        self.calls += 1
        self.written += documents
        return self.gap * took_s if self.enabled else 0.0

    async def write(
        self, items: Sequence[T], call: Callable[[Sequence[T]], Awaitable[object]]
    ) -> None:
        """`call` on consecutive chunks of `items`, each followed by its gap."""
        start = 0
        while start < len(items):
            chunk = items[start : start + self.size(len(items) - start)]
            async with self._turn:
                started = time.perf_counter()
                await call(chunk)
                pause = self.observe(len(chunk), time.perf_counter() - started)
                start += len(chunk)
                if pause > 0:
                    self.paused_s += pause
                    await asyncio.sleep(pause)
