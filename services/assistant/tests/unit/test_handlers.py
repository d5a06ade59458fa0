"""The assistant's use cases over in-memory fakes of the repository, unit of work and
shop API: what each command records, and that a refused command records nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest

from assistant import handlers
from assistant.actions import ActionExpired, CartNotReady, idempotency_key
from assistant.domain import SessionFull
from assistant.shop_api import Answer
from marcus_contracts.events.orders import ShippingAddress
from marcus_eventstore import DomainError, NotFound
from services.assistant.tests.fakes import FakeShop, FakeStore, FakeUnitOfWork, unreachable

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
ADDRESS = ShippingAddress(
    name="Ada Lovelace", lines=["1 Rue de la Paix"], city="Paris", postal_code="75002", country="FR"
)
LINE = {
    "line_id": str(UUID(int=1)),
    "product_id": str(UUID(int=2)),
    "name": "Gravel Bike Aurora",
    "quantity": 1,
    "unit_price": "1299.00",
    "line_total": "1299.00",
    "available": True,
}
CART: dict[str, Any] = {"lines": [LINE], "total": "1299.00", "currency": "EUR"}


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


def uow(store: FakeStore) -> FakeUnitOfWork:
    return FakeUnitOfWork(store)


async def started(store: FakeStore, customer: str = "alice") -> UUID:
    return await handlers.start_session(handlers.StartSession(customer, "bikes"), uow(store))


async def asked(
    store: FakeStore, session_id: UUID, customer: str = "alice", limit: int = 10
) -> UUID:
    command = handlers.ReceiveMessage(session_id, customer, "a gravel bike?", limit)
    return await handlers.receive_message(command, uow(store))


async def proposed(store: FakeStore, session_id: UUID, cart: dict[str, Any] = CART) -> UUID:
    command = handlers.ProposeCheckout(
        session_id, "alice", cart, ADDRESS, now=NOW, ttl=timedelta(minutes=15)
    )
    return (await handlers.propose_checkout(command, uow(store))).id


def confirmation(session_id: UUID, action_id: UUID, at: datetime = NOW) -> handlers.ConfirmAction:
    return handlers.ConfirmAction(session_id, action_id, "alice", "alice-token", at)


# ------------------------------------------------------------------------- chat


async def test_a_session_starts_for_its_customer(store: FakeStore) -> None:
    session_id = await started(store)
    assert store.sessions[session_id].customer == "alice"
    assert store.types() == ["assistant.session.started"]
    with pytest.raises(DomainError):
        await handlers.start_session(handlers.StartSession(""), uow(store))
    assert len(store.events) == 1


async def test_a_message_is_stored_for_the_owner_only_while_there_is_room(
    store: FakeStore,
) -> None:
    session_id = await started(store)
    message_id = await asked(store, session_id)
    [*_, (_, _, received)] = store.events
    assert received.message_id == message_id
    with pytest.raises(NotFound):
        await asked(store, session_id, customer="bob")
    with pytest.raises(SessionFull):
        await asked(store, session_id, limit=2)  # one message and its reply already
    with pytest.raises(NotFound):
        await asked(store, uuid4())
    assert store.types() == ["assistant.session.started", "assistant.session.message_received"]


async def test_a_reply_is_recorded_against_its_question(store: FakeStore) -> None:
    session_id = await started(store)
    question = await asked(store, session_id)
    reply = handlers.RecordReply(session_id, question, "The Aurora.", status="complete")
    reply_id = await handlers.record_reply(reply, uow(store))
    [*_, (_, sequence, recorded)] = store.events
    assert sequence == 3 and recorded.message_id == reply_id
    assert recorded.reply_to == question
    with pytest.raises(NotFound):
        await handlers.record_reply(
            handlers.RecordReply(uuid4(), question, "x", "complete"), uow(store)
        )


async def test_only_the_owner_deletes_a_session(store: FakeStore) -> None:
    session_id = await started(store)
    with pytest.raises(NotFound):
        await handlers.delete_session(handlers.DeleteSession(session_id, "bob"), uow(store))
    await handlers.delete_session(handlers.DeleteSession(session_id, "alice"), uow(store))
    assert store.types() == ["assistant.session.started", "assistant.session.deleted"]


# ---------------------------------------------------------------------- actions


async def test_a_checkout_is_proposed_from_the_cart_as_shown(store: FakeStore) -> None:
    session_id = await started(store)
    action_id = await proposed(store, session_id)
    action = store.actions[action_id]
    assert (action.status, action.total, action.customer) == (
        "proposed",
        Decimal("1299.00"),
        "alice",
    )
    with pytest.raises(CartNotReady):
        await proposed(store, session_id, {"lines": [], "total": "0", "currency": "EUR"})
    assert store.types()[1:] == ["assistant.action.proposed"]


async def test_a_confirmation_checks_out_once_with_the_actions_key(store: FakeStore) -> None:
    session_id = await started(store)
    action_id = await proposed(store, session_id)
    shop = FakeShop(CART)
    outcome = await handlers.confirm_action(confirmation(session_id, action_id), uow(store), shop)
    assert outcome.action.status == "executed" and outcome.order == {"id": str(UUID(int=7))}
    assert shop.checkouts == [("alice-token", Decimal("1299.00"), idempotency_key(action_id))]

    again = await handlers.confirm_action(confirmation(session_id, action_id), uow(store), shop)
    assert again.action.order_id == UUID(int=7) and len(shop.checkouts) == 1
    assert store.types()[-2:] == ["assistant.action.confirmed", "assistant.action.executed"]


async def test_an_expired_proposal_is_refused_and_records_nothing(store: FakeStore) -> None:
    session_id = await started(store)
    action_id = await proposed(store, session_id)
    before = len(store.events)
    late = confirmation(session_id, action_id, at=NOW + timedelta(hours=1))
    with pytest.raises(ActionExpired):
        await handlers.confirm_action(late, uow(store), FakeShop(CART))
    assert len(store.events) == before and store.actions[action_id].status == "proposed"


async def test_an_unreachable_shop_leaves_the_action_confirmed_for_a_retry(
    store: FakeStore,
) -> None:
    session_id = await started(store)
    action_id = await proposed(store, session_id)
    shop = FakeShop(CART)
    shop.checkout_answer = unreachable
    outcome = await handlers.confirm_action(confirmation(session_id, action_id), uow(store), shop)
    assert outcome.unavailable is not None and store.actions[action_id].status == "confirmed"


async def test_a_refused_checkout_fails_the_action_with_both_totals(store: FakeStore) -> None:
    session_id = await started(store)
    action_id = await proposed(store, session_id)
    shop = FakeShop(CART)
    shop.checkout_answer = Answer(409, {"detail": "the total moved", "total": "1350.00"})
    outcome = await handlers.confirm_action(confirmation(session_id, action_id), uow(store), shop)
    assert outcome.action.status == "failed" and outcome.action.failure_status == 409
    assert "it was 1299.00 EUR, it is now 1350.00 EUR" in (outcome.action.failure_detail or "")


async def test_another_customers_action_is_not_found(store: FakeStore) -> None:
    session_id = await started(store)
    action_id = await proposed(store, session_id)
    bob = handlers.ConfirmAction(session_id, action_id, "bob", "bob-token", NOW)
    with pytest.raises(NotFound):
        await handlers.confirm_action(bob, uow(store), FakeShop(CART))
    assert store.actions[action_id].status == "proposed"
