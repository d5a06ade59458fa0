"""The Action aggregate on its own (pure, the clock an argument): a proposal expires,
a confirmation is single use, only a confirmed action is performed, and only its owner
(in its session) may confirm it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

import pytest

from assistant.actions import (
    Action,
    ActionExpired,
    CartNotReady,
    NotConfirmed,
    changed_lines,
    idempotency_key,
    proposed_lines,
)
from marcus_contracts.events import assistant as ev
from marcus_contracts.events.orders import ShippingAddress
from marcus_eventstore.aggregate import DomainError, NotFound

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
TTL = timedelta(minutes=15)
ADDRESS = ShippingAddress(
    name="Ada Lovelace", lines=["1 Rue de la Paix"], city="Paris", postal_code="75002", country="FR"
)
SESSION = uuid4()


def _line(total: str = "1299.00") -> ev.ProposedLine:
    return ev.ProposedLine(
        line_id=uuid4(),
        product_id=uuid4(),
        name="Gravel Bike Aurora",
        quantity=1,
        unit_price=Decimal(total),
        line_total=Decimal(total),
    )


def _proposal(customer: str = "alice", lines: list[ev.ProposedLine] | None = None) -> Action:
    """A checkout proposal of the Aurora (or of `lines`), as the chat's tool makes it."""
    total = sum((line.line_total for line in lines), Decimal("0")) if lines is not None else None
    return Action.propose_checkout(
        session_id=SESSION,
        customer=customer,
        lines=[_line()] if lines is None else lines,
        total=Decimal("1299.00") if total is None else total,
        currency="EUR",
        address=ADDRESS,
        now=NOW,
        ttl=TTL,
    )


def _proposed(customer: str = "alice") -> Action:
    action = _proposal(customer)
    action.pending.clear()  # as if stored
    action.version = 1
    return action


def test_a_proposal_records_what_the_customer_is_shown() -> None:
    action = _proposal()
    [event] = action.pending
    assert isinstance(event, ev.ActionProposed)
    assert event.expires_at == NOW + TTL and event.total == Decimal("1299.00")
    assert event.address == ADDRESS and event.customer == "alice"
    assert action.view().status == "proposed"


def test_nothing_to_propose_from_an_empty_cart() -> None:
    with pytest.raises(DomainError, match="empty"):
        _proposal(lines=[])
    with pytest.raises(CartNotReady, match="empty"):
        proposed_lines({"lines": [], "total": "0", "currency": None})


def test_a_cart_line_that_cannot_be_bought_is_not_proposed() -> None:
    cart = {
        "lines": [
            {
                "line_id": str(uuid4()),
                "product_id": str(uuid4()),
                "name": "Lamp",
                "quantity": 1,
                "unit_price": None,
                "line_total": None,
                "available": False,
                "problems": ["out of stock"],
            }
        ],
        "total": "0.00",
        "currency": "EUR",
    }
    with pytest.raises(CartNotReady, match="Lamp \\(out of stock\\)"):
        proposed_lines(cart)


def test_confirmed_before_expiry_once() -> None:
    action = _proposed()
    assert action.confirm("alice", NOW + TTL - timedelta(seconds=1)) is True
    assert [type(e) for e in action.pending] == [ev.ActionConfirmed]
    # Single use: a second yes records nothing (the caller reads the first one's outcome).
    assert action.confirm("alice", NOW + timedelta(minutes=1)) is False
    assert len(action.pending) == 1


def test_expired_is_refused_and_records_nothing() -> None:
    action = _proposed()
    with pytest.raises(ActionExpired, match="expired"):
        action.confirm("alice", NOW + TTL)
    assert action.pending == [] and action.status == "proposed"


def test_only_the_owner_in_the_session_may_confirm() -> None:
    action = _proposed()
    with pytest.raises(NotFound):
        action.confirm("bob", NOW)
    with pytest.raises(NotFound):
        action.check_owner("alice", uuid4())
    assert action.pending == []


def test_performed_only_after_the_yes_and_only_once() -> None:
    action = _proposed()
    with pytest.raises(NotConfirmed):
        action.executed(uuid4())
    action.confirm("alice", NOW)
    order_id = uuid4()
    action.executed(order_id)
    assert action.view().order_id == order_id and action.status == "executed"
    with pytest.raises(NotConfirmed):
        action.failed(409, "the total moved")
    with pytest.raises(NotConfirmed):
        action.executed(uuid4())
    # Executed, then confirmed again (even after expiry): nothing new, same outcome.
    assert action.confirm("alice", NOW + TTL * 2) is False
    assert [type(e) for e in action.pending] == [ev.ActionConfirmed, ev.ActionExecuted]


def test_a_failure_keeps_the_apis_answer() -> None:
    action = _proposed()
    action.confirm("alice", NOW)
    action.failed(409, "Nothing was bought: the cart's total changed")
    view = action.view()
    assert (view.status, view.failure_status) == ("failed", 409)
    assert view.failure_detail is not None and "total changed" in view.failure_detail
    assert isinstance(action.pending[-1], ev.ActionFailed)


def test_one_idempotency_key_per_action() -> None:
    action = _proposed()
    assert idempotency_key(action.id) == idempotency_key(action.id)
    assert idempotency_key(action.id) != idempotency_key(_proposed().id)


def test_a_cart_that_changed_since_the_proposal_is_named() -> None:
    proposed = [_line(), _line("15.00")]
    cart = {
        "lines": [
            {"line_id": str(line.line_id), "name": line.name, "quantity": line.quantity}
            for line in proposed
        ]
    }
    assert changed_lines(proposed, cart) is None
    cart["lines"][1]["quantity"] = 2
    assert (
        changed_lines(proposed, cart) == "the cart changed since the proposal (Gravel Bike Aurora)"
    )
    cart["lines"] = [*cart["lines"][:1], {"line_id": str(uuid4()), "name": "Bell", "quantity": 1}]
    assert changed_lines(proposed, cart) == (
        "the cart changed since the proposal (Bell, Gravel Bike Aurora)"
    )
