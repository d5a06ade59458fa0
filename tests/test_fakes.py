"""The shared in-memory unit of work keeps `marcus_eventstore.UnitOfWork`'s contract, on
which every service's command-handler unit tests rely."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from uuid import UUID, uuid4

from marcus_contracts.events import catalog as ev
from marcus_eventstore import Aggregate
from tests.support import fakes


@dataclass
class Thing(Aggregate):
    pass


class Store(fakes.FakeStore):
    def __init__(self) -> None:
        super().__init__()
        self.things: dict[UUID, Thing] = {}

    def keep(self, aggregate: Aggregate) -> None:
        assert isinstance(aggregate, Thing)
        self.things[aggregate.id] = copy.deepcopy(aggregate)


class Repository(fakes.FakeRepository[Store]):
    async def thing(self, thing_id: UUID) -> Thing | None:
        return self.loaded(self.store.things.get(thing_id))


class UnitOfWork(fakes.FakeUnitOfWork[Store, Repository]):
    def make_repository(self) -> Repository:
        return Repository(self.store)


def _event(thing: Thing) -> ev.CategoryCreated:
    return ev.CategoryCreated(category_id=thing.id, name="Bikes", slug="bikes")


async def test_commit_appends_the_seen_aggregates_events_with_consecutive_versions() -> None:
    uow = UnitOfWork(Store())
    thing = Thing(uuid4(), 0)
    thing.pending.extend([_event(thing), _event(thing)])
    async with uow:
        uow.repo.add(thing)
        recorded = await uow.commit()
    assert [(subject, sequence) for subject, sequence, _ in uow.store.events] == [
        (thing.id, 1),
        (thing.id, 2),
    ]
    assert recorded == uow.store.of_type(ev.CategoryCreated)
    assert uow.store.types() == ["catalog.category.created"] * 2
    assert thing.pending == [] and uow.store.things[thing.id].version == 2
    assert (uow.commits, uow.rollbacks) == (1, 0)


async def test_leaving_without_a_commit_drops_the_changes() -> None:
    store = Store()
    stored = store.things.setdefault(thing_id := uuid4(), Thing(thing_id, 3))
    uow = UnitOfWork(store)
    async with uow:
        loaded = await uow.repo.thing(thing_id)
        assert loaded is not None and loaded is not stored
        loaded.version = 9
        loaded.pending.append(_event(loaded))
    assert store.events == [] and stored.version == 3
    assert (uow.commits, uow.rollbacks) == (0, 1)
