"""The micro-batcher: concurrent items of a key go out together, each gets its own
result, a failed call fails exactly its items, and no item joins a call in flight."""

from __future__ import annotations

import asyncio

import pytest

from marcus_search.batching import MicroBatcher


class Recorder:
    """A batch call that doubles numbers and records every batch it was given; `gate`
    holds a call open until the test releases it."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, list[int]]] = []
        self.gate: asyncio.Event | None = None
        self.fail_on: int | None = None

    async def __call__(self, key: str, items: list[int]) -> list[int]:
        self.batches.append((key, list(items)))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_on is not None and self.fail_on in items:
            raise ValueError(f"refused {self.fail_on}")
        return [item * 2 for item in items]


async def test_concurrent_items_of_a_key_share_calls_and_get_their_own_results() -> None:
    call = Recorder()
    batcher = MicroBatcher(call, max_batch=8)
    results = await asyncio.gather(*(batcher.submit("k", i) for i in range(20)))
    assert results == [i * 2 for i in range(20)]
    assert sorted(i for _, items in call.batches for i in items) == list(range(20))
    assert all(len(items) <= 8 for _, items in call.batches)
    assert batcher.calls == len(call.batches) < 20


KEYS = (("a", 0), ("b", 10))


async def test_keys_never_share_a_call() -> None:
    call = Recorder()
    batcher = MicroBatcher(call)
    submitted = [batcher.submit(key, i + offset) for i in range(5) for key, offset in KEYS]
    expected = [(i + offset) * 2 for i in range(5) for _, offset in KEYS]
    assert await asyncio.gather(*submitted) == expected
    for key, items in call.batches:
        assert all((key == "a") == (i < 10) for i in items)
    assert {key for key, _ in call.batches} == {"a", "b"}


async def test_an_item_never_joins_a_call_already_sent() -> None:
    call = Recorder()
    call.gate = asyncio.Event()
    batcher = MicroBatcher(call, max_in_flight=1)
    first = asyncio.create_task(batcher.submit("k", 1))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert call.batches == [("k", [1])]  # sent, held open
    later = [asyncio.create_task(batcher.submit("k", i)) for i in (2, 3)]
    await asyncio.sleep(0)
    assert call.batches == [("k", [1])]  # they wait for the next call
    call.gate.set()
    assert await first == 2 and [await t for t in later] == [4, 6]
    assert call.batches == [("k", [1]), ("k", [2, 3])]


async def test_calls_in_flight_are_bounded() -> None:
    call = Recorder()
    call.gate = asyncio.Event()
    batcher = MicroBatcher(call, max_in_flight=2)
    tasks = [asyncio.create_task(batcher.submit("k", i)) for i in range(3)]
    for _ in range(3):
        await asyncio.sleep(0)
    tasks += [asyncio.create_task(batcher.submit("k", i)) for i in range(3, 6)]
    for _ in range(3):
        await asyncio.sleep(0)
    tasks += [asyncio.create_task(batcher.submit("k", i)) for i in range(6, 9)]
    for _ in range(3):
        await asyncio.sleep(0)
    assert call.batches == [("k", [0, 1, 2]), ("k", [3, 4, 5])]  # two out, the rest wait
    call.gate.set()
    assert [await t for t in tasks] == [i * 2 for i in range(9)]
    assert call.batches[2:] == [("k", [6, 7, 8])]


async def test_a_failed_call_fails_its_items_only() -> None:
    call = Recorder()
    call.gate = asyncio.Event()
    call.fail_on = 1
    batcher = MicroBatcher(call, max_in_flight=1)
    failing = asyncio.create_task(batcher.submit("k", 1))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    fine = asyncio.create_task(batcher.submit("k", 2))
    call.gate.set()
    with pytest.raises(ValueError, match="refused 1"):
        await failing
    assert await fine == 4


async def test_a_cancelled_caller_leaves_the_others_served() -> None:
    call = Recorder()
    call.gate = asyncio.Event()
    batcher = MicroBatcher(call, max_in_flight=1)
    first = asyncio.create_task(batcher.submit("k", 1))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    gone = asyncio.create_task(batcher.submit("k", 2))
    kept = asyncio.create_task(batcher.submit("k", 3))
    await asyncio.sleep(0)
    gone.cancel()
    call.gate.set()
    assert await first == 2 and await kept == 6
    assert gone.cancelled()
    assert call.batches == [("k", [1]), ("k", [3])]  # the cancelled item is not sent


async def test_a_wrong_number_of_results_is_an_error_for_every_item() -> None:
    async def short(key: str, items: list[int]) -> list[int]:
        return items[:-1]

    batcher = MicroBatcher(short)
    results = await asyncio.gather(
        *(batcher.submit("k", i) for i in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)


def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError):
        MicroBatcher(Recorder(), max_batch=0)
    with pytest.raises(ValueError):
        MicroBatcher(Recorder(), max_in_flight=0)
