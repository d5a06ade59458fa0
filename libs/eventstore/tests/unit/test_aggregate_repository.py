"""`AggregateRepository`: what a unit of work's commit collects is every aggregate a
repository added or loaded, in that order."""

from __future__ import annotations

from typing import Any, cast
from uuid import uuid4

from marcus_eventstore import Aggregate, AggregateRepository


def test_added_and_remembered_aggregates_are_seen_in_order() -> None:
    session = cast(Any, object())
    repository = AggregateRepository(session)
    new, loaded = Aggregate(uuid4(), 0), Aggregate(uuid4(), 4)
    repository.add(new)
    assert repository.remember(loaded) is loaded
    assert repository.seen == [new, loaded]
    assert repository.session is session
