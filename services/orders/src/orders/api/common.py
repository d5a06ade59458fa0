"""What the orders and cart routes share: the unit of work of a command, the
Idempotency-Key of a placement, and the order a placement answers with."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Header, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from marcus_eventstore import NotFound
from marcus_web.auth import Principal
from marcus_web.dependencies import unit_of_work
from marcus_web.problems import Problem
from orders.api.schemas import OrderOut
from orders.handlers import Placed
from orders.storage import queries
from orders.storage.uow import OrdersUnitOfWork

IDEMPOTENCY_KEY_MAX = 255

UoW = Annotated[OrdersUnitOfWork, Depends(unit_of_work(OrdersUnitOfWork))]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Retry-safe placement: the same key and body return the same order; "
        "the same key with another body is 409.",
    ),
]


def checked_key(key: str | None) -> str | None:
    """The Idempotency-Key as given, or 400 when it is empty, too long or unprintable."""
    if key is None:
        return None
    if not key or len(key) > IDEMPOTENCY_KEY_MAX or not key.isprintable():
        raise Problem(
            400,
            "Bad Request",
            f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} printable characters.",
        )
    return key


async def order_out(session: AsyncSession, order_id: UUID, viewer: Principal) -> OrderOut:
    """The order as `viewer` may see it: their own, or any for an admin; else 404 (not
    403: the order's existence is not theirs to know)."""
    order = await queries.get_order(session, order_id)
    if order is None or not (viewer.is_admin or order["customer"] == viewer.subject):
        raise NotFound(f"order {order_id} does not exist")
    return OrderOut.model_validate(order)


async def placed_out(
    session: AsyncSession, placed: Placed, customer: Principal, response: Response
) -> OrderOut:
    """A placement's answer: 201 with the order's Location, or 200 marked as a replay
    when an earlier request with the same key placed it."""
    if placed.replayed:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/api/v1/orders/{placed.order_id}"
    if placed.view is not None:  # read in the placing transaction: the customer's own
        return OrderOut.model_validate(placed.view)
    return await order_out(session, placed.order_id, customer)
