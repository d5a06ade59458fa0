"""The rebuild's write pacing: chunks of a fixed size, a gap after each write, and
concurrent batches taking turns."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import pytest

from indexer.pacing import WritePacer


def test_off_writes_everything_at_once_without_gaps() -> None:
    pacer = WritePacer(chunk=0, gap=1.0)
    assert pacer.size(256) == 256
    assert pacer.observe(256, 0.5) == 0.0


def test_chunks_are_at_most_the_chunk_size() -> None:
    pacer = WritePacer(chunk=64)
    assert pacer.size(256) == 64
    assert pacer.size(10) == 10


def test_the_gap_is_a_multiple_of_the_write() -> None:
    pacer = WritePacer(chunk=32, gap=1.5)
    assert pacer.observe(32, 0.02) == pytest.approx(0.03)
    assert (pacer.calls, pacer.written) == (1, 32)


def test_a_negative_gap_is_refused() -> None:
    with pytest.raises(ValueError):
        WritePacer(gap=-1)


async def test_write_sends_every_item_once_in_order_in_chunks() -> None:
    pacer = WritePacer(chunk=8, gap=0.0)
    calls: list[list[int]] = []

    async def call(chunk: Sequence[int]) -> None:
        calls.append(list(chunk))

    await pacer.write(list(range(20)), call)
    assert calls == [list(range(8)), list(range(8, 16)), list(range(16, 20))]
    assert (pacer.calls, pacer.written) == (3, 20)


async def test_write_unpaced_is_one_call() -> None:
    pacer = WritePacer(chunk=0)
    calls: list[int] = []

    async def call(chunk: Sequence[int]) -> None:
        calls.append(len(chunk))

    await pacer.write(list(range(300)), call)
    assert calls == [300]
    assert pacer.paused_s == 0.0


async def test_concurrent_batches_take_turns_with_their_gaps() -> None:
    """A rebuild's two batches in flight: one's chunk never runs inside the other's
    write or gap, so the time left to search is what the gap says."""
    pacer = WritePacer(chunk=2, gap=1.0)
    events: list[tuple[str, str, int]] = []

    def writer(name: str) -> Callable[[Sequence[int]], Awaitable[None]]:
        async def call(chunk: Sequence[int]) -> None:
            events.append(("start", name, chunk[0]))
            await asyncio.sleep(0.01)
            events.append(("end", name, chunk[0]))

        return call

    await asyncio.gather(
        pacer.write([0, 1, 2, 3], writer("a")), pacer.write([10, 11, 12, 13], writer("b"))
    )
    assert len(events) == 8
    for start, end in zip(events[::2], events[1::2], strict=True):
        assert start[0] == "start" and end[0] == "end" and start[1:] == end[1:]
    assert pacer.calls == 4 and pacer.paused_s >= 0.04


async def test_unpaced_concurrent_batches_write_one_at_a_time() -> None:
    pacer = WritePacer(chunk=0)
    busy: list[int] = []
    overlap = False

    async def call(chunk: Sequence[int]) -> None:
        nonlocal overlap
        overlap = overlap or bool(busy)
        busy.append(1)
        await asyncio.sleep(0.01)
        busy.pop()

    await asyncio.gather(*(pacer.write(list(range(5)), call) for _ in range(3)))
    assert not overlap
    assert pacer.calls == 3 and pacer.paused_s == 0.0
