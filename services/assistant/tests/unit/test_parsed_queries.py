"""The query parser's copy of the categories: a query is parsed once per copy, and a
category added to the catalog is understood once the copy expires (over a fake of the
session factory that counts its reads)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from assistant.storage import categories as categories_store


class FakeSessions:
    """`sessions()` as the assistant's session factory: `execute` returns the rows."""

    def __init__(self, rows: list[tuple[str, str]]) -> None:
        self.rows = rows
        self.reads = 0

    def __call__(self) -> FakeSessions:
        return self

    async def __aenter__(self) -> FakeSessions:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def execute(self, statement: Any) -> list[SimpleNamespace]:
        self.reads += 1
        return [SimpleNamespace(slug=slug, name=name) for slug, name in self.rows]


async def test_a_query_is_parsed_once_per_copy_and_new_categories_arrive_with_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sessions: Any = FakeSessions([("bikes", "Bikes")])
    now = [1000.0]
    monkeypatch.setattr(categories_store.time, "monotonic", lambda: now[0])

    first = await categories_store.parse_query(sessions, "lights for bikes under 50 euros")
    again = await categories_store.parse_query(sessions, "lights for bikes under 50 euros")
    assert again is first and sessions.reads == 1
    assert (first.category, str(first.max_price)) == ("bikes", "50")

    sessions.rows.append(("lamps", "Lamps"))
    stale = await categories_store.parse_query(sessions, "lamps")
    assert stale.category is None, "the copy is not read again before it expires"

    now[0] += categories_store.TTL_S
    fresh = await categories_store.parse_query(sessions, "lamps")
    assert fresh.category == "lamps" and sessions.reads == 2
