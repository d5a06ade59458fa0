"""In-memory fakes of the assistant's repository, unit of work and shop API (cosmicpython
style), for unit tests of the command handlers: aggregates are stored as copies, and only
a commit makes a change (and its events) visible, as with the real transaction."""

from __future__ import annotations

import copy
from collections.abc import Callable
from decimal import Decimal
from types import TracebackType
from typing import Any
from uuid import UUID

from assistant.actions import Action
from assistant.domain import ChatSession
from assistant.shop_api import Answer, ShopUnavailable
from marcus_contracts import Event
from marcus_eventstore import Aggregate


class FakeStore:
    """What is committed: chat sessions, actions, and every event in order."""

    def __init__(self) -> None:
        self.sessions: dict[UUID, ChatSession] = {}
        self.actions: dict[UUID, Action] = {}
        self.events: list[tuple[UUID, int, Event]] = []

    def types(self) -> list[str]:
        return [event.event_type for _, _, event in self.events]


class FakeRepository:
    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.seen: list[Aggregate] = []

    def add(self, aggregate: Aggregate) -> None:
        self.seen.append(aggregate)

    async def chat_session(self, session_id: UUID, *, lock: bool = True) -> ChatSession | None:
        return self._loaded(self.store.sessions.get(session_id))

    async def action(self, action_id: UUID) -> Action | None:
        return self._loaded(self.store.actions.get(action_id))

    def _loaded(self, stored: Any) -> Any:
        aggregate = copy.deepcopy(stored)
        if aggregate is not None:
            self.seen.append(aggregate)
        return aggregate


class FakeUnitOfWork:
    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.commits = 0

    async def __aenter__(self) -> FakeUnitOfWork:
        self.repo = FakeRepository(self.store)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None  # uncommitted changes are dropped with the repository

    async def commit(self) -> list[Event]:
        recorded: list[Event] = []
        for aggregate in self.repo.seen:
            for event in aggregate.pending:
                aggregate.version += 1
                self.store.events.append((aggregate.id, aggregate.version, event))
                recorded.append(event)
            aggregate.pending.clear()
            if isinstance(aggregate, Action):
                self.store.actions[aggregate.id] = copy.deepcopy(aggregate)
            elif isinstance(aggregate, ChatSession):
                self.store.sessions[aggregate.id] = copy.deepcopy(aggregate)
        self.commits += 1
        return recorded


class FakeShop:
    """The orders API as the acting tools see it: a cart, a checkout that answers as
    scripted (an `Answer`, or a callable raising `ShopUnavailable`), and orders."""

    def __init__(self, cart: dict[str, Any]) -> None:
        self.cart_body = cart
        self.checkout_answer: Answer | Callable[[], Answer] = Answer(201, {"id": str(UUID(int=7))})
        self.checkouts: list[tuple[str, Decimal, str]] = []

    async def cart(self, token: str) -> Answer:
        return Answer(200, self.cart_body)

    async def checkout(
        self, token: str, address: dict[str, Any], expected_total: Decimal, key: str
    ) -> Answer:
        self.checkouts.append((token, expected_total, key))
        answer = self.checkout_answer
        return answer if isinstance(answer, Answer) else answer()

    async def order(self, token: str, order_id: UUID) -> Answer:
        return Answer(200, {"id": str(order_id), "status": "pending"})


def unreachable() -> Answer:
    raise ShopUnavailable("orders did not answer (ConnectError)")
