"""HTTP routes of the orders service: thin adapters from requests to handlers and queries.

Who sees what: a customer sees, cancels and lists only their own orders; anyone else
gets 404 for them (not 403: the order's existence is not theirs to know). An admin may
read any order and ship it.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marcus_contracts.events.orders import OrderStatus
from marcus_eventstore import CommandContext, NotFound
from marcus_web.auth import Admin, Customer, Principal
from marcus_web.pagination import CURSOR_RESPONSES, PageCursor, encode_cursor
from marcus_web.problems import Problem
from orders import handlers
from orders.api.emails import order_email
from orders.api.schemas import OrderIn, OrderOut, OrderPage
from orders.domain import LineRequest, OptionsNotAllowed, UnknownProducts
from orders.storage import queries
from orders.storage.uow import OrdersUnitOfWork

router = APIRouter(prefix="/api/v1", tags=["orders"])

IDEMPOTENCY_KEY_MAX = 255


def _sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    return sessions


async def read_session(request: Request):  # type: ignore[no-untyped-def]
    async with _sessions(request)() as session:
        yield session


def unit_of_work(request: Request) -> OrdersUnitOfWork:
    headers = request.headers
    context = CommandContext(
        correlationid=headers.get("x-correlation-id") or headers.get("x-request-id"),
        causationid=headers.get("x-request-id"),
        traceparent=headers.get("traceparent"),
    )
    return OrdersUnitOfWork(_sessions(request), context)


Session = Annotated[AsyncSession, Depends(read_session)]
UoW = Annotated[OrdersUnitOfWork, Depends(unit_of_work)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Retry-safe placement: the same key and body return the same order; "
        "the same key with another body is 409.",
    ),
]


async def _order_out(session: AsyncSession, order_id: UUID, viewer: Principal) -> OrderOut:
    order = await queries.get_order(session, order_id)
    if order is None or not (viewer.is_admin or order["customer"] == viewer.subject):
        raise NotFound(f"order {order_id} does not exist")
    return OrderOut.model_validate(order)


def _check_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not key or len(key) > IDEMPOTENCY_KEY_MAX or not key.isprintable():
        raise Problem(
            400,
            "Bad Request",
            f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} printable characters.",
        )
    return key


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
    session: Session,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> OrderOut:
    key = _check_key(idempotency_key)
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
    except UnknownProducts as exc:
        raise Problem(
            422,
            "Unprocessable Content",
            "Some lines name products that do not exist (or were deleted).",
            errors=[
                {
                    "loc": ["body", "lines", str(position), "product_id"],
                    "msg": f"unknown or deleted product {product_id}",
                    "type": "unknown_product",
                }
                for position, product_id in zip(exc.positions, exc.product_ids, strict=True)
            ],
        ) from None
    except OptionsNotAllowed as exc:
        raise Problem(
            422,
            "Unprocessable Content",
            "Only configurable products take options.",
            errors=[
                {
                    "loc": ["body", "lines", str(position), "options"],
                    "msg": f"{name} takes no options",
                    "type": "options_not_allowed",
                }
                for position, name in zip(exc.positions, exc.names, strict=True)
            ],
        ) from None
    if placed.replayed:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/api/v1/orders/{placed.order_id}"
    return await _order_out(session, placed.order_id, customer)


@router.get(
    "/orders",
    summary="Your orders, newest first",
    responses=CURSOR_RESPONSES,
)
async def list_orders(
    customer: Customer,
    session: Session,
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
async def get_order(order_id: UUID, viewer: Customer, session: Session) -> OrderOut:
    return await _order_out(session, order_id, viewer)


@router.post(
    "/orders/{order_id}/cancel",
    summary="Cancel a confirmed order (its customer, or an admin): stock released, e-mail sent",
)
async def cancel_order(order_id: UUID, viewer: Customer, uow: UoW, session: Session) -> OrderOut:
    await handlers.cancel_order(order_id, viewer.subject, uow, as_admin=viewer.is_admin)
    return await _order_out(session, order_id, viewer)


@router.post("/orders/{order_id}/ship", summary="Mark a confirmed order shipped (admin)")
async def ship_order(order_id: UUID, admin: Admin, uow: UoW, session: Session) -> OrderOut:
    await handlers.ship_order(order_id, admin.subject, uow)
    return await _order_out(session, order_id, admin)


@router.post("/orders/{order_id}/deliver", summary="Mark a shipped order delivered (admin)")
async def deliver_order(order_id: UUID, admin: Admin, uow: UoW, session: Session) -> OrderOut:
    await handlers.deliver_order(order_id, admin.subject, uow)
    return await _order_out(session, order_id, admin)
