"""The rebuild's write pacing: chunk sizes follow the time budget, gaps follow the writes."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from indexer.pacing import WritePacer


def test_off_writes_everything_at_once_without_gaps() -> None:
    pacer = WritePacer(budget_s=0, gap=1.0, size=32)
    assert pacer.chunks(256) == 256
    assert pacer.observe(256, 0.5) == 0.0
    assert pacer.size == 32


def test_a_slow_full_chunk_shrinks_the_next_and_a_fast_one_grows_it() -> None:
    pacer = WritePacer(budget_s=0.04, gap=0.0, size=32, max_chunk=256)
    pacer.observe(32, 0.08)  # twice the budget: half the size
    assert pacer.size == 16
    pacer.observe(16, 0.01)  # a quarter of the budget: at most doubled
    assert pacer.size == 32
    pacer.observe(32, 0.032)  # 0.8 of the budget: a little more
    assert pacer.size == 40


def test_the_size_stays_within_its_bounds() -> None:
    pacer = WritePacer(budget_s=0.04, size=8, min_chunk=8, max_chunk=64)
    for _ in range(5):
        pacer.observe(pacer.size, 10.0)
    assert pacer.size == 8
    for _ in range(10):
        pacer.observe(pacer.size, 0.001)
    assert pacer.size == 64
    assert pacer.chunks(10) == 10


def test_a_short_last_chunk_only_shrinks_the_size_when_over_budget() -> None:
    pacer = WritePacer(budget_s=0.04, size=32)
    pacer.observe(5, 0.001)
    assert pacer.size == 32
    pacer.observe(5, 0.1)
    assert pacer.size == 16


def test_the_gap_is_a_multiple_of_the_write() -> None:
    pacer = WritePacer(budget_s=0.04, gap=1.5, size=32)
    assert pacer.observe(32, 0.02) == pytest.approx(0.03)
    assert (pacer.calls, pacer.written) == (1, 32)


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError):
        WritePacer(min_chunk=0)
    with pytest.raises(ValueError):
        WritePacer(min_chunk=16, max_chunk=8)
    with pytest.raises(ValueError):
        WritePacer(gap=-1)


async def test_write_sends_every_item_once_in_order_in_chunks() -> None:
    pacer = WritePacer(budget_s=1000.0, gap=0.0, size=8, min_chunk=8, max_chunk=8)
    calls: list[list[int]] = []

    async def call(chunk: Sequence[int]) -> None:
        calls.append(list(chunk))

    await pacer.write(list(range(20)), call)
    assert calls == [list(range(8)), list(range(8, 16)), list(range(16, 20))]
    assert (pacer.calls, pacer.written) == (3, 20)


async def test_write_unpaced_is_one_call() -> None:
    pacer = WritePacer(budget_s=0)
    calls: list[int] = []

    async def call(chunk: Sequence[int]) -> None:
        calls.append(len(chunk))

    await pacer.write(list(range(300)), call)
    assert calls == [300]
