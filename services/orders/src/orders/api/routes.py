"""HTTP routes of the orders service: thin adapters from requests to handlers and queries.

Who sees what: a customer sees, cancels and lists only their own orders; anyone else
gets 404 for them (not 403: the order's existence is not theirs to know). An admin may
read any order and ship it.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status

from marcus_contracts.events.orders import OrderStatus
from marcus_web.auth import Admin, Customer
from marcus_web.dependencies import ReadSession
from marcus_web.pagination import CURSOR_RESPONSES, PageCursor, encode_cursor
from marcus_web.problems import Problem
from orders import handlers
from orders.api.common import IdempotencyKey, UoW, checked_key, order_out, placed_out
from orders.api.emails import order_email
from orders.api.schemas import OrderIn, OrderOut, OrderPage
from orders.domain import LineRequest, OptionsNotAllowed, UnknownProducts
from orders.storage import queries

router = APIRouter(prefix="/api/v1", tags=["orders"])


@router.post(
    "/orders",
    status_code=status.HTTP_201_CREATED,
    summary="Place an order (confirmed or rejected asynchronously by the stock saga)",
    responses={200: {"description": "Replay: an earlier request with this key made it"}},
)
async def place_order(
    body: OrderIn,
    customer: Customer,
    uow: UoW,
    session: ReadSession,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> OrderOut:
    key = checked_key(idempotency_key)
    command = handlers.PlaceOrder(
        customer=customer.subject,
        email=order_email(request, customer, None if body.email is None else str(body.email)),
        lines=[
            LineRequest(line.product_id, line.quantity, tuple(line.options)) for line in body.lines
        ],
        idempotency_key=key,
        request_hash=handlers.request_hash(body.model_dump(mode="json")),
    )
    try:
        placed = await handlers.place_order(command, uow)
    except (UnknownProducts, OptionsNotAllowed) as exc:
        raise _lines_refused(exc) from None
    return await placed_out(session, placed, customer, response)


def _lines_refused(exc: UnknownProducts | OptionsNotAllowed) -> Problem:
    """422 naming each refused line of the body by its position."""
    if isinstance(exc, UnknownProducts):
        detail = "Some lines name products that do not exist (or were deleted)."
        field, kind = "product_id", "unknown_product"
        messages = [f"unknown or deleted product {product_id}" for product_id in exc.product_ids]
    else:
        detail, field, kind = (
            "Only configurable products take options.",
            "options",
            "options_not_allowed",
        )
        messages = [f"{name} takes no options" for name in exc.names]
    return Problem(
        422,
        "Unprocessable Content",
        detail,
        errors=[
            {"loc": ["body", "lines", str(position), field], "msg": msg, "type": kind}
            for position, msg in zip(exc.positions, messages, strict=True)
        ],
    )


@router.get(
    "/orders",
    summary="Your orders, newest first",
    responses=CURSOR_RESPONSES,
)
async def list_orders(
    customer: Customer,
    session: ReadSession,
    before: PageCursor,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    status: Annotated[
        list[OrderStatus] | None,
        Query(description="Only orders in these states (repeat the parameter for several)."),
    ] = None,
) -> OrderPage:
    rows, next_before = await queries.list_orders(
        session, customer.subject, limit, before, statuses=status
    )
    return OrderPage(
        items=[OrderOut.model_validate(row) for row in rows],
        next_cursor=encode_cursor(next_before) if next_before else None,
    )


@router.get("/orders/{order_id}", summary="One order (its customer, or an admin)")
async def get_order(order_id: UUID, viewer: Customer, session: ReadSession) -> OrderOut:
    return await order_out(session, order_id, viewer)


@router.post(
    "/orders/{order_id}/cancel",
    summary="Cancel a confirmed order (its customer, or an admin): stock released, e-mail sent",
)
async def cancel_order(
    order_id: UUID, viewer: Customer, uow: UoW, session: ReadSession
) -> OrderOut:
    await handlers.cancel_order(order_id, viewer.subject, uow, as_admin=viewer.is_admin)
    return await order_out(session, order_id, viewer)


@router.post("/orders/{order_id}/ship", summary="Mark a confirmed order shipped (admin)")
async def ship_order(order_id: UUID, admin: Admin, uow: UoW, session: ReadSession) -> OrderOut:
    await handlers.ship_order(order_id, admin.subject, uow)
    return await order_out(session, order_id, admin)


@router.post("/orders/{order_id}/deliver", summary="Mark a shipped order delivered (admin)")
async def deliver_order(order_id: UUID, admin: Admin, uow: UoW, session: ReadSession) -> OrderOut:
    await handlers.deliver_order(order_id, admin.subject, uow)
    return await order_out(session, order_id, admin)
