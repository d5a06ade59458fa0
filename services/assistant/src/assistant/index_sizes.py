"""How many documents a collection holds, for BM25's inverse document frequency.

Chroma answers `count()` by counting the collection's rows (15-40 ms of the server's CPU
at 100k products, ~1 ms at 10k), and a keyword or hybrid search used to ask for it on
every request. A size at most `max_age` seconds old ranks the same: the collection size
only scales each term's rarity, and a second of writes moves it by a few documents at
most. So each collection is counted at most once per `max_age`, and requests that find
the size stale together share one count.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable

from marcus_search.chroma import AsyncCollection

MAX_AGE_S = 1.0
KEPT = 8
"""Collections whose size is remembered: the active one and, around a rebuild, its
successor (and a few dropped ones until they age out)."""


class IndexSizes:
    """Each collection's size, counted at most once per `max_age` seconds."""

    def __init__(
        self, max_age: float = MAX_AGE_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_age = max_age
        self.clock = clock
        self._known: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._counting: dict[str, asyncio.Task[int]] = {}

    async def of(self, collection: AsyncCollection) -> int:
        """The collection's size, counted now unless a count that started within
        `max_age` seconds gave it.
        A failed count (the collection dropped, the server down) is raised to every
        request waiting on it and remembered by none."""
        name = collection.name
        known = self._known.get(name)
        if known is not None and self.clock() - known[0] <= self.max_age:
            return known[1]
        task = self._counting.get(name)
        if task is None:
            task = asyncio.create_task(self._count(collection))
            self._counting[name] = task
            task.add_done_callback(lambda done: self._counted(name, done))
        return await asyncio.shield(task)

    async def _count(self, collection: AsyncCollection) -> int:
        started = self.clock()
        size = await collection.count()
        self._known[collection.name] = (started, size)
        self._known.move_to_end(collection.name)
        while len(self._known) > KEPT:
            self._known.popitem(last=False)
        return size

    def _counted(self, name: str, task: asyncio.Task[int]) -> None:
        """The count is over: the next stale request starts another. Its failure is
        marked seen, since every request that waited on it may have been cancelled."""
        self._counting.pop(name, None)
        if not task.cancelled():
            task.exception()

    def forget(self, name: str) -> None:
        """Drop what is known of a collection (it was dropped)."""
        self._known.pop(name, None)
