"""In-memory fakes of the assistant's store, repository and shop API, for unit tests of
the command handlers; the unit of work is the shared one (`tests/support/fakes.py`)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from uuid import UUID

from assistant.actions import Action
from assistant.domain import ChatSession
from assistant.shop_api import Answer, ShopUnavailable
from marcus_eventstore import Aggregate
from tests.support import fakes


class FakeStore(fakes.FakeStore):
    """What is committed: chat sessions, actions, and every event in order."""

    def __init__(self) -> None:
        super().__init__()
        self.sessions: dict[UUID, ChatSession] = {}
        self.actions: dict[UUID, Action] = {}

    def keep(self, aggregate: Aggregate) -> None:
        if isinstance(aggregate, Action):
            self.actions[aggregate.id] = copy.deepcopy(aggregate)
        elif isinstance(aggregate, ChatSession):
            self.sessions[aggregate.id] = copy.deepcopy(aggregate)


class FakeRepository(fakes.FakeRepository[FakeStore]):
    async def chat_session(self, session_id: UUID, *, lock: bool = True) -> ChatSession | None:
        return self.loaded(self.store.sessions.get(session_id))

    async def action(self, action_id: UUID) -> Action | None:
        return self.loaded(self.store.actions.get(action_id))


class FakeUnitOfWork(fakes.FakeUnitOfWork[FakeStore, FakeRepository]):
    def make_repository(self) -> FakeRepository:
        return FakeRepository(self.store)


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
