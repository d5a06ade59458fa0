"""A collection's size is counted at most once per max_age, one count shared by the
requests that find it stale together; a failed count is remembered by none."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from assistant.index_sizes import KEPT, IndexSizes
from marcus_search.chroma import AsyncCollection, NotFoundError


class FakeCollection:
    """Counts its `count()` calls; a call waits while `release` is clear."""

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = size
        self.calls = 0
        self.release = asyncio.Event()
        self.release.set()
        self.failure: Exception | None = None

    async def count(self) -> int:
        self.calls += 1
        await self.release.wait()
        if self.failure is not None:
            raise self.failure
        return self.size


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def handle(fake: FakeCollection) -> AsyncCollection:
    return cast(AsyncCollection, fake)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def held(size: int) -> FakeCollection:
    """A collection whose `count()` waits until its `release` is set."""
    fake = FakeCollection("products__hash_256__a", size)
    fake.release.clear()
    return fake


async def waiting_on(sizes: IndexSizes, fake: FakeCollection, n: int) -> list[asyncio.Task[int]]:
    """n requests for the size, each started and waiting."""
    tasks = [asyncio.create_task(sizes.of(handle(fake))) for _ in range(n)]
    await asyncio.sleep(0)
    return tasks


async def test_a_size_is_counted_once_within_max_age_and_again_after(clock: Clock) -> None:
    sizes = IndexSizes(max_age=1.0, clock=clock)
    products = FakeCollection("products__hash_256__a", 10)
    assert await sizes.of(handle(products)) == 10
    products.size = 12
    clock.now += 0.9
    assert await sizes.of(handle(products)) == 10
    assert products.calls == 1
    clock.now += 0.2
    assert await sizes.of(handle(products)) == 12
    assert products.calls == 2


async def test_requests_that_find_the_size_stale_together_share_one_count(clock: Clock) -> None:
    sizes = IndexSizes(clock=clock)
    products = held(7)
    waiting = await waiting_on(sizes, products, 5)
    products.release.set()
    assert await asyncio.gather(*waiting) == [7] * 5
    assert products.calls == 1


async def test_a_failed_count_reaches_every_waiter_and_is_not_remembered(clock: Clock) -> None:
    sizes = IndexSizes(clock=clock)
    products = held(3)
    products.failure = NotFoundError("dropped")
    waiting = await waiting_on(sizes, products, 3)
    products.release.set()
    results: list[Any] = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, NotFoundError) for r in results)
    products.failure = None
    assert await sizes.of(handle(products)) == 3
    assert products.calls == 2


async def test_a_waiter_cancelled_leaves_the_count_to_the_others(clock: Clock) -> None:
    sizes = IndexSizes(clock=clock)
    products = held(4)
    first, second = await waiting_on(sizes, products, 2)
    first.cancel()
    products.release.set()
    assert await second == 4
    assert first.cancelled()
    assert products.calls == 1


async def test_forget_and_the_bound_on_remembered_collections(clock: Clock) -> None:
    sizes = IndexSizes(clock=clock)
    active = FakeCollection("products__hash_256__a", 5)
    await sizes.of(handle(active))
    sizes.forget(active.name)
    await sizes.of(handle(active))
    assert active.calls == 2
    others = [FakeCollection(f"products__hash_256__{i}", i) for i in range(KEPT)]
    for other in others:
        await sizes.of(handle(other))
    await sizes.of(handle(active))
    assert active.calls == 3, "the oldest remembered size made room for newer ones"
