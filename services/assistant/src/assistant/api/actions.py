"""The customer's yes: `POST /api/v1/chat/sessions/{id}/actions/{action_id}/confirm`.

Owner only (another customer's action, or one of another session, is 404), once (a
second confirmation answers the first one's outcome: the same order), before it expires
(410 after). The checkout runs with the token of this request, the customer's own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from assistant import handlers
from assistant.actions import ActionExpired, ActionOut
from assistant.api.dependencies import UnitOfWork, bearer_token
from marcus_web.auth import Customer
from marcus_web.problems import Problem

router = APIRouter(prefix="/api/v1/chat", tags=["chat"])


class Confirmed(BaseModel):
    action: ActionOut
    order: dict[str, Any] | None = Field(
        description="The order the checkout placed, as the orders API shows it."
    )


@router.post(
    "/sessions/{session_id}/actions/{action_id}/confirm",
    response_model=Confirmed,
    summary="Confirm an action the assistant proposed (a checkout): performs it, once",
    responses={
        404: {"description": "No such action in your session"},
        409: {"description": "Not performed: the cart's total moved (or the cart changed)"},
        410: {"description": "The proposal expired; ask the assistant for a new one"},
        422: {"description": "Not performed: the orders service refused the checkout"},
        503: {"description": "The orders service is unreachable: confirm again (same order)"},
    },
)
async def confirm_action(
    request: Request, session_id: UUID, action_id: UUID, customer: Customer, uow: UnitOfWork
) -> Confirmed:
    token = bearer_token(request)
    assert token is not None  # `Customer` verified it
    command = handlers.ConfirmAction(
        session_id=session_id,
        action_id=action_id,
        customer=customer.subject,
        token=token,
        now=datetime.now(UTC),
    )
    try:
        outcome = await handlers.confirm_action(command, uow, request.app.state.chat.shop_api)
    except ActionExpired as exc:
        raise Problem(410, "Gone", str(exc)) from None
    action = outcome.action
    if outcome.unavailable is not None:
        raise Problem(
            503,
            "Service Unavailable",
            f"Your confirmation is recorded but the checkout could not be done yet "
            f"({outcome.unavailable}); confirm again: it places one order at most.",
            headers={"Retry-After": "5"},
            action=action.model_dump(mode="json"),
        )
    if action.status == "failed":
        status = action.failure_status if action.failure_status in (409, 422) else 502
        title = {409: "Conflict", 422: "Unprocessable Content"}.get(status, "Bad Gateway")
        raise Problem(status, title, action.failure_detail, action=action.model_dump(mode="json"))
    return Confirmed(action=action, order=outcome.order)
