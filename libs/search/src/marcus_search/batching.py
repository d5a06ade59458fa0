"""Micro-batching: calls that arrive together go out as one call.

A search makes one Chroma query and (MiniLM) one encode per request, and both cost far
more per call than per item: an HTTP round trip through httpx and the server's request
handling, or a model forward pass. Under load many requests wait for the same call at
once, so `MicroBatcher` sends them in one: items of the same key join a queue; a drain
runs while at most `max_in_flight` calls of that key are out, taking up to `max_batch`
queued items per call. No timer: an item that finds a free slot goes out on the next
turn of the event loop (with whatever arrived in that turn), so a quiet service pays
no added latency and batches grow only while calls are already busy.

Each item gets its own result, exactly what the call returned for it; a failed call
fails every item it carried (each caller sees the error it would have seen alone). A
caller that is cancelled stops waiting; the call it joined still serves the others.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K")  # a dict key: hashable
I = TypeVar("I")  # noqa: E741 (item)
O = TypeVar("O")  # noqa: E741 (output)


@dataclass
class _Group(Generic[I, O]):
    queue: deque[tuple[I, asyncio.Future[O]]] = field(default_factory=deque)
    in_flight: int = 0


class MicroBatcher(Generic[K, I, O]):
    """Runs `call(key, items)` (one result per item, in order) for queued items of a key."""

    def __init__(
        self,
        call: Callable[[K, list[I]], Awaitable[Sequence[O]]],
        *,
        max_batch: int = 32,
        max_in_flight: int = 1,
    ) -> None:
        if max_batch < 1 or max_in_flight < 1:
            raise ValueError("max_batch and max_in_flight must be at least 1")
        self._call = call
        self.max_batch = max_batch
        self.max_in_flight = max_in_flight
        self._groups: dict[K, _Group[I, O]] = {}
        self._drains: set[asyncio.Task[None]] = set()
        self.calls = 0
        """Calls made (batches sent): with the items submitted, the batching achieved."""

    async def submit(self, key: K, item: I) -> O:
        """The call's result for `item`, sent with the other items of `key` queued now."""
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group()
        future: asyncio.Future[O] = asyncio.get_running_loop().create_future()
        group.queue.append((item, future))
        if group.in_flight < self.max_in_flight:
            group.in_flight += 1
            drain = asyncio.create_task(self._drain(key, group))
            self._drains.add(drain)
            drain.add_done_callback(self._drains.discard)
        return await future

    async def _drain(self, key: K, group: _Group[I, O]) -> None:
        try:
            while group.queue:
                size = min(self.max_batch, len(group.queue))
                batch = [group.queue.popleft() for _ in range(size)]
                batch = [(item, future) for item, future in batch if not future.done()]
                if batch:
                    await self._send(key, batch)
        except BaseException:
            while group.queue:  # cancelled (shutdown): nobody would send these
                group.queue.popleft()[1].cancel()
            raise
        finally:
            group.in_flight -= 1
            if group.in_flight == 0 and not group.queue and self._groups.get(key) is group:
                del self._groups[key]

    async def _send(self, key: K, batch: list[tuple[I, asyncio.Future[O]]]) -> None:
        self.calls += 1
        try:
            results = list(await self._call(key, [item for item, _ in batch]))
            if len(results) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} got {len(results)} results")
        except BaseException as exc:  # every caller of the batch sees the call's error
            for _, future in batch:
                if future.done():
                    continue
                if isinstance(exc, Exception):
                    future.set_exception(exc)
                else:
                    future.cancel()  # cancelled (shutdown): so are its callers
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
