"""The rebuild's write pacing: chunks of a fixed size, a gap after each write."""

from __future__ import annotations

from collections.abc import Sequence

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
