"""Command handlers: the chat's and the actions' use cases, each a command and a unit of
work (the routes and the chat turn build both; neither touches SQL itself).

The customer's message is committed before the model is asked anything, and the reply in
a command of its own once it is complete (or interrupted), so a stored session is always
consistent.

Confirming an action runs in two steps. First the customer's yes is recorded (committed
before anything is bought). Then, the action's row locked, the checkout is performed
with the customer's token and the Idempotency-Key derived from the action, and its
outcome is recorded. A second confirmation waits for that lock and returns the first
one's outcome (the same order); one left `confirmed` by a crash or an unreachable orders
service is performed again by the next confirmation, and the key makes it the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from assistant.actions import (
    Action,
    ActionExpired,
    ActionOut,
    changed_lines,
    idempotency_key,
    proposed_lines,
)
from assistant.domain import ChatSession
from assistant.metrics import ACTIONS
from assistant.shop_api import Answer, ShopApi, ShopUnavailable
from assistant.storage.uow import AssistantUnitOfWork as UnitOfWork
from marcus_contracts.events import assistant as ev
from marcus_contracts.events.orders import ShippingAddress
from marcus_eventstore import NotFound

# ------------------------------------------------------------------------- chat


@dataclass(frozen=True)
class StartSession:
    """A customer opens a chat (an empty title is allowed)."""

    customer: str
    title: str = ""


@dataclass(frozen=True)
class DeleteSession:
    """The owner deletes a session; its events stay in the event store (ADR 0006)."""

    session_id: UUID
    customer: str


@dataclass(frozen=True)
class ReceiveMessage:
    """The customer's message, stored before the model is asked anything."""

    session_id: UUID
    customer: str
    content: str
    limit: int
    """Messages the session may hold (CHAT_MAX_MESSAGES_PER_SESSION)."""


@dataclass(frozen=True)
class RecordReply:
    """The assistant's reply to a stored message, complete or interrupted."""

    session_id: UUID
    reply_to: UUID
    content: str
    status: ev.ReplyStatus
    degraded_reason: ev.DegradedReason | None = None
    cited: Sequence[ev.CitedProduct] = field(default_factory=list)
    tools_called: Sequence[str] = field(default_factory=list)
    model: str = ""
    grounding: ev.Grounding | None = None
    """`corrected` | `replaced`: what grounding did to the model's text (None: nothing)."""
    findings: Sequence[dict[str, Any]] = field(default_factory=list)


async def start_session(cmd: StartSession, uow: UnitOfWork) -> UUID:
    async with uow:
        chat = ChatSession.start(cmd.customer, cmd.title)
        uow.repo.add(chat)
        await uow.commit()
        return chat.id


async def _chat_session(uow: UnitOfWork, session_id: UUID) -> ChatSession:
    chat = await uow.repo.chat_session(session_id)
    if chat is None:
        raise NotFound(f"chat session {session_id} not found")
    return chat


async def delete_session(cmd: DeleteSession, uow: UnitOfWork) -> None:
    """Delete the customer's session; another customer's, or none: NotFound."""
    async with uow:
        chat = await _chat_session(uow, cmd.session_id)
        chat.delete(cmd.customer)
        await uow.commit()


async def receive_message(cmd: ReceiveMessage, uow: UnitOfWork) -> UUID:
    """Store the customer's message; returns its id."""
    async with uow:
        chat = await _chat_session(uow, cmd.session_id)
        chat.check_owner(cmd.customer)
        message_id = chat.receive(cmd.content, cmd.limit)
        await uow.commit()
        return message_id


async def record_reply(cmd: RecordReply, uow: UnitOfWork) -> UUID:
    async with uow:
        chat = await _chat_session(uow, cmd.session_id)
        message_id = chat.reply(
            cmd.reply_to,
            cmd.content,
            status=cmd.status,
            degraded_reason=cmd.degraded_reason,
            cited=cmd.cited,
            tools_called=cmd.tools_called,
            model=cmd.model,
            grounding=cmd.grounding,
            findings=[ev.GroundingFinding(**finding) for finding in cmd.findings],
        )
        await uow.commit()
        return message_id


# ---------------------------------------------------------------------- actions


@dataclass(frozen=True)
class ProposeCheckout:
    """The chat's tool proposes buying the cart as the customer was shown it."""

    session_id: UUID
    customer: str
    cart: dict[str, Any]
    """The cart as the orders API showed it to the customer's token."""
    address: ShippingAddress
    now: datetime
    ttl: timedelta


@dataclass(frozen=True)
class ConfirmAction:
    """The customer's yes to a proposed action, which performs it (once)."""

    session_id: UUID
    action_id: UUID
    customer: str
    token: str
    """The customer's own bearer token: the checkout is theirs."""
    now: datetime


@dataclass(frozen=True)
class Outcome:
    action: ActionOut
    order: dict[str, Any] | None = None
    """The order as the orders API returned it (executed actions)."""
    unavailable: str | None = None
    """Set when the orders service could not be reached: the action stays confirmed and
    confirming again is safe (same Idempotency-Key)."""


async def propose_checkout(cmd: ProposeCheckout, uow: UnitOfWork) -> ActionOut:
    lines, total, currency = proposed_lines(cmd.cart)
    async with uow:
        action = Action.propose_checkout(
            session_id=cmd.session_id,
            customer=cmd.customer,
            lines=lines,
            total=total,
            currency=currency,
            address=cmd.address,
            now=cmd.now,
            ttl=cmd.ttl,
        )
        uow.repo.add(action)
        await uow.commit()
    ACTIONS.labels("proposed").inc()
    return action.view()


async def _owned_action(uow: UnitOfWork, cmd: ConfirmAction) -> Action:
    action = await uow.repo.action(cmd.action_id)
    if action is None:
        raise NotFound(f"action {cmd.action_id} not found")
    action.check_owner(cmd.customer, cmd.session_id)
    return action


async def confirm_action(cmd: ConfirmAction, uow: UnitOfWork, shop: ShopApi) -> Outcome:
    async with uow:
        action = await _owned_action(uow, cmd)
        try:
            said_yes = action.confirm(cmd.customer, cmd.now)
        except ActionExpired:
            ACTIONS.labels("expired").inc()
            raise
        if said_yes:
            await uow.commit()
            ACTIONS.labels("confirmed").inc()
    async with uow:
        action = await _owned_action(uow, cmd)
        if action.status == "confirmed":
            outcome = await _perform(action, shop, cmd.token)
            if outcome.unavailable is not None:
                ACTIONS.labels("unavailable").inc()
                return outcome
            await uow.commit()
            ACTIONS.labels(outcome.action.status).inc()
            return outcome
    if action.status == "executed" and action.order_id is not None:
        return Outcome(action.view(), await _order(shop, cmd.token, action.order_id))
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
