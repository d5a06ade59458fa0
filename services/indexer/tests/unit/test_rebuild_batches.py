"""How a rebuild writes its batches: at most `in_flight` under way, every product once,
each batch in a transaction of its own, and the first failure stops the run before the
batches still running commit (over in-memory fakes of the sessions and the writer)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import pytest

from indexer.domain import ProductState
from indexer.pacing import WritePacer
from indexer.rebuild import Rebuilder
from indexer.replay import Fold
from indexer.storage.collections import BUILDING, Target

TARGET = Target("products-new", "hash", 8, BUILDING)


class FakeSessions:
    """`sessions.begin()`: a transaction that commits when its block ends without error."""

    def __init__(self) -> None:
        self.commits = 0
        self.rollbacks = 0

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[object]:
        try:
            yield object()
        except BaseException:
            self.rollbacks += 1
            raise
        self.commits += 1


class FakeWriter:
    """Records the products of each batch; the batch at `fail_at` raises."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at
        self.calls = 0
        self.running = 0
        self.most_running = 0
        self.written: list[list[UUID]] = []

    async def write(
        self,
        session: object,
        target: Target,
        states: Sequence[ProductState],
        pacer: WritePacer | None = None,
    ) -> None:
        number = self.calls
        self.calls += 1
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await asyncio.sleep(0.01 if number != self.fail_at else 0.001)
            if number == self.fail_at:
                raise ConnectionError("Chroma went away")
            self.written.append([state.product_id for state in states])
        finally:
            self.running -= 1


def rebuilder(writer: FakeWriter, sessions: FakeSessions, in_flight: int) -> Rebuilder:
    fake: Any = None
    return Rebuilder(
        sessions=sessions,  # type: ignore[arg-type]
        redis=fake,
        writer=writer,  # type: ignore[arg-type]
        alias=fake,
        stream="events.catalog",
        namespace="",
        embedder=fake,
        batch=10,
        in_flight=in_flight,
    )


def fold_of(count: int) -> Fold:
    fold = Fold()
    for n in range(count):
        fold.states[UUID(int=n + 1)] = ProductState(UUID(int=n + 1), sequence=1)
    return fold


@pytest.mark.parametrize("in_flight", [1, 2, 3])
async def test_every_product_is_written_once_with_at_most_in_flight_batches(
    in_flight: int,
) -> None:
    writer, sessions = FakeWriter(), FakeSessions()
    fold = fold_of(95)
    await rebuilder(writer, sessions, in_flight)._write(TARGET, fold, set(fold.states))
    written = [pid for batch in writer.written for pid in batch]
    assert sorted(written) == sorted(fold.states) and len(written) == 95
    assert [len(batch) for batch in writer.written] == [10] * 9 + [5]
    assert writer.most_running == in_flight
    assert (sessions.commits, sessions.rollbacks) == (10, 0)


async def test_the_first_failure_is_raised_and_the_batches_still_running_do_not_commit() -> None:
    writer, sessions = FakeWriter(fail_at=3), FakeSessions()
    fold = fold_of(95)
    with pytest.raises(ConnectionError):
        await rebuilder(writer, sessions, 2)._write(TARGET, fold, set(fold.states))
    assert writer.running == 0, "no batch is left running after the run failed"
    assert writer.calls <= 5, "no batch is started once the failure is seen"
    assert sessions.commits == len(writer.written) == 3, "the batches before it"
    assert sessions.rollbacks == writer.calls - 3, "the failed batch and any cancelled"
