"""Use cases of actions: propose a checkout (a chat tool), confirm and perform it (the
confirm route). Each state change is one unit of work on the Action aggregate.

Confirming runs in two steps. First the customer's yes is recorded (committed before
anything is bought). Then, the action's row locked, the checkout is performed with the
customer's token and the Idempotency-Key derived from the action, and its outcome is
recorded. A second confirmation waits for that lock and returns the first one's outcome
(the same order); one left `confirmed` by a crash or an unreachable orders service is
performed again by the next confirmation, and the key makes it the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.actions import Action, ActionExpired, ActionOut, idempotency_key
from assistant.metrics import ACTIONS
from assistant.shop_api import Answer, ShopApi, ShopUnavailable
from assistant.storage import actions as actions_store
from assistant.storage.uow import AssistantUnitOfWork as UnitOfWork
from marcus_contracts.events import assistant as ev
from marcus_contracts.events.orders import ShippingAddress
from marcus_eventstore import CommandContext, NotFound
from marcus_eventstore.aggregate import DomainError


class CartNotReady(DomainError):
    """The cart cannot be checked out as it is (empty, or a line cannot be bought)."""


@dataclass(frozen=True)
class Outcome:
    action: ActionOut
    order: dict[str, Any] | None = None
    """The order as the orders API returned it (executed actions)."""
    unavailable: str | None = None
    """Set when the orders service could not be reached: the action stays confirmed and
    confirming again is safe (same Idempotency-Key)."""


def proposed_lines(cart: dict[str, Any]) -> tuple[list[ev.ProposedLine], Decimal, str]:
    """The cart as the orders API showed it, as proposal lines; refused when a line
    cannot be bought now (the customer must see and fix it first)."""
    lines = cart.get("lines") or []
    if not lines:
        raise CartNotReady("the cart is empty: add something before checking out")
    blocked = [line for line in lines if not line.get("available", True)]
    if blocked or any(line.get("unit_price") is None for line in lines):
        names = ", ".join(
            f"{line['name']} ({'; '.join(line.get('problems') or [])})" for line in blocked
        )
        raise CartNotReady(f"some lines cannot be bought now: {names}; change or remove them")
    proposed = [
        ev.ProposedLine(
            line_id=line["line_id"],
            product_id=line["product_id"],
            name=line["name"],
            quantity=line["quantity"],
            unit_price=Decimal(str(line["unit_price"])),
            line_total=Decimal(str(line["line_total"])),
        )
        for line in lines
    ]
    return proposed, Decimal(str(cart["total"])), str(cart["currency"])


def changed_lines(proposed: list[ev.ProposedLine], cart: dict[str, Any]) -> str | None:
    """How the cart now differs from the proposal (None: the same lines and quantities).
    The checkout guards the total; this guards what is bought: a cart whose lines
    changed at an equal total is not what the customer said yes to."""
    now = {(str(line["line_id"]), int(line["quantity"])) for line in cart.get("lines") or []}
    then = {(str(line.line_id), line.quantity) for line in proposed}
    if now == then:
        return None
    names = {str(line.line_id): line.name for line in proposed}
    for line in cart.get("lines") or []:
        names.setdefault(str(line["line_id"]), str(line["name"]))
    moved = sorted({names[line_id] for line_id, _ in now ^ then})
    return "the cart changed since the proposal (" + ", ".join(moved) + ")"


async def propose_checkout(
    sessions: async_sessionmaker[AsyncSession],
    *,
    session_id: UUID,
    customer: str,
    cart: dict[str, Any],
    address: ShippingAddress,
    now: datetime,
    ttl: timedelta,
    context: CommandContext | None = None,
) -> ActionOut:
    lines, total, currency = proposed_lines(cart)
    async with UnitOfWork(sessions, context) as uow:
        action = Action.propose_checkout(
            session_id=session_id,
            customer=customer,
            lines=lines,
            total=total,
            currency=currency,
            address=address,
            now=now,
            ttl=ttl,
        )
        uow.repo.add(action)
        await uow.commit()
    ACTIONS.labels("proposed").inc()
    return action.view()


async def _owned(uow: UnitOfWork, session_id: UUID, action_id: UUID, customer: str) -> Action:
    action = await actions_store.load(uow.session, uow.repo.seen, action_id)
    if action is None:
        raise NotFound(f"action {action_id} not found")
    action.check_owner(customer, session_id)
    return action


async def confirm(
    sessions: async_sessionmaker[AsyncSession],
    shop: ShopApi,
    *,
    session_id: UUID,
    action_id: UUID,
    customer: str,
    token: str,
    now: datetime,
    context: CommandContext | None = None,
) -> Outcome:
    async with UnitOfWork(sessions, context) as uow:
        action = await _owned(uow, session_id, action_id, customer)
        try:
            said_yes = action.confirm(customer, now)
        except ActionExpired:
            ACTIONS.labels("expired").inc()
            raise
        if said_yes:
            await uow.commit()
            ACTIONS.labels("confirmed").inc()
    async with UnitOfWork(sessions, context) as uow:
        action = await _owned(uow, session_id, action_id, customer)
        if action.status == "confirmed":
            outcome = await _perform(action, shop, token)
            if outcome.unavailable is not None:
                ACTIONS.labels("unavailable").inc()
                return outcome
            await uow.commit()
            ACTIONS.labels(outcome.action.status).inc()
            return outcome
    if action.status == "executed" and action.order_id is not None:
        return Outcome(action.view(), await _order(shop, token, action.order_id))
    return Outcome(action.view())


async def _perform(action: Action, shop: ShopApi, token: str) -> Outcome:
    """The checkout at the proposed total; records executed or failed on `action`."""
    assert action.address is not None
    try:
        cart = await shop.cart(token)
        if cart.ok and isinstance(cart.body, dict) and cart.body.get("lines"):
            # An empty cart goes on to the checkout, which answers for it: this action's
            # order again (a confirmation whose outcome was not recorded), or 409 empty.
            changed = changed_lines(action.lines, cart.body)
            if changed is not None:
                action.failed(
                    409, f"Nothing was bought: {changed}. Ask the assistant for a new proposal."
                )
                return Outcome(action.view())
        answer = await shop.checkout(
            token,
            action.address.model_dump(mode="json"),
            action.total,
            idempotency_key(action.id),
        )
    except ShopUnavailable as exc:
        return Outcome(action.view(), unavailable=str(exc))
    if answer.ok and isinstance(answer.body, dict) and "id" in answer.body:
        action.executed(UUID(str(answer.body["id"])))
        return Outcome(action.view(), answer.body)
    action.failed(answer.status, _failure(action, answer))
    return Outcome(action.view())


def _failure(action: Action, answer: Answer) -> str:
    """The API's refusal in words the customer reads; a moved total says both totals."""
    said = answer.problem()
    body = answer.body if isinstance(answer.body, dict) else {}
    if answer.status == 409 and body.get("total") is not None:
        return (
            f"Nothing was bought: the cart's total changed since the proposal (it was "
            f"{action.total} {action.currency}, it is now {body['total']} "
            f"{body.get('currency') or action.currency}). Ask the assistant for a new "
            f"proposal. ({said})"
        )
    return f"Nothing was bought: {said}"


async def _order(shop: ShopApi, token: str, order_id: UUID) -> dict[str, Any] | None:
    try:
        answer = await shop.order(token, order_id)
    except ShopUnavailable:
        return {"id": str(order_id)}
    return answer.body if answer.ok and isinstance(answer.body, dict) else {"id": str(order_id)}
