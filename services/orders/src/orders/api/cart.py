"""HTTP routes of the cart: the token subject's own cart, and its checkout.

Owner only by construction: every path is `/cart`, the cart of the caller's `sub`; no
request names another customer's cart, and a line id that is not in the caller's cart
is 404. Anonymous requests are 401.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from marcus_pricing import Violation
from marcus_web.auth import Customer, Principal
from marcus_web.dependencies import ReadSession
from marcus_web.problems import Problem
from orders import handlers
from orders.api.cart_schemas import (
    CartLineIn,
    CartLineOut,
    CartOut,
    CheckoutIn,
    QuantityIn,
    RemindersIn,
)
from orders.api.common import IdempotencyKey, UoW, checked_key, placed_out
from orders.api.emails import order_email, verified_email
from orders.api.schemas import LineOptionOut, OrderOut
from orders.cart import Cart, cart_id_of
from orders.cart_pricing import CartNow, LineRefused, UnknownProduct, cart_now
from orders.storage.carts import catalog_products
from orders.storage.uow import OrdersRepository

router = APIRouter(prefix="/api/v1/cart", tags=["cart"])

UNPROCESSABLE = "Unprocessable Content"
MERGED: dict[int | str, dict[str, Any]] = {
    200: {"description": "Merged: the cart had this item; its quantity grew"}
}
REFUSED: dict[int | str, dict[str, Any]] = {
    422: {"description": "The line cannot be bought: the errors name the rule"}
}


async def _cart_out(session: AsyncSession, customer: str) -> CartOut:
    repository = OrdersRepository(session)
    cart = await repository.cart(cart_id_of(customer), lock=False) or Cart.open(customer)
    known = await catalog_products(session, (line.product_id for line in cart.lines))
    return cart_view(cart, cart_now(cart.lines, known))


def cart_view(cart: Cart, now: CartNow) -> CartOut:
    return CartOut(
        id=cart.id,
        lines=[
            CartLineOut(
                line_id=line.line.line_id,
                product_id=line.line.product_id,
                sku=line.line.sku,
                name=line.line.name,
                kind=line.line.kind,
                base_product_id=line.line.base_product_id,
                options=[LineOptionOut.model_validate(o.model_dump()) for o in line.line.options],
                quantity=line.line.quantity,
                added_unit_price=line.line.unit_price,
                unit_price=line.unit_price,
                line_total=line.line_total,
                available=line.available,
                problems=line.problems,
                changed=line.changed,
                note=line.line.note,
            )
            for line in now.lines
        ],
        total=now.total,
        currency=now.currency,
        reminders=cart.reminders,
        version=cart.version,
    )


def _violation_error(violation: Violation, where: Sequence[str]) -> dict[str, Any]:
    field = "quantity" if violation.kind == "out_of_stock" else "options"
    error: dict[str, Any] = {
        "loc": [*where, field],
        "msg": violation.message,
        "type": violation.kind,
    }
    if violation.rule_id is not None:
        error["rule_id"] = str(violation.rule_id)
    if violation.part_id is not None:
        error["part_id"] = str(violation.part_id)
    if violation.option_ids:
        error["option_ids"] = [str(o) for o in violation.option_ids]
    if violation.kind == "out_of_stock":
        error |= {"requested": violation.requested, "available": violation.available}
    return error


def _refused(exc: UnknownProduct | LineRefused, where: Sequence[str]) -> Problem:
    if isinstance(exc, UnknownProduct):
        return Problem(
            422,
            UNPROCESSABLE,
            f"Product {exc.product_id} does not exist (or was deleted).",
            errors=[
                {
                    "loc": [*where, "product_id"],
                    "msg": f"unknown or deleted product {exc.product_id}",
                    "type": "unknown_product",
                }
            ],
        )
    return Problem(
        422,
        UNPROCESSABLE,
        f"{exc.name} cannot be added as asked: " + "; ".join(v.message for v in exc.violations),
        errors=[_violation_error(v, where) for v in exc.violations],
    )


@router.get("", summary="Your cart: lines at current prices, what moved, the total")
async def get_cart(customer: Customer, session: ReadSession) -> CartOut:
    return await _cart_out(session, customer.subject)


@router.post(
    "/lines",
    status_code=status.HTTP_201_CREATED,
    summary="Add a line (a simple product, or a configurable one with its options)",
    responses={**MERGED, **REFUSED},
)
async def add_line(
    body: CartLineIn, customer: Customer, uow: UoW, session: ReadSession, response: Response
) -> CartOut:
    command = handlers.AddLine(
        customer=customer.subject,
        product_id=body.product_id,
        quantity=body.quantity,
        options=tuple(body.options),
        email=verified_email(customer),
    )
    try:
        added = await handlers.add_line(command, uow)
    except (UnknownProduct, LineRefused) as exc:
        raise _refused(exc, ["body"]) from None
    if added.merged:
        response.status_code = status.HTTP_200_OK
    return await _cart_out(session, customer.subject)


@router.patch("/lines/{line_id}", summary="Set a line's quantity", responses=REFUSED)
async def set_quantity(
    line_id: UUID, body: QuantityIn, customer: Customer, uow: UoW, session: ReadSession
) -> CartOut:
    try:
        await handlers.set_quantity(
            customer.subject, line_id, body.quantity, uow, email=verified_email(customer)
        )
    except (UnknownProduct, LineRefused) as exc:
        raise _refused(exc, ["body"]) from None
    return await _cart_out(session, customer.subject)


@router.delete("/lines/{line_id}", summary="Remove a line")
async def remove_line(line_id: UUID, customer: Customer, uow: UoW, session: ReadSession) -> CartOut:
    await handlers.remove_line(customer.subject, line_id, uow)
    return await _cart_out(session, customer.subject)


@router.delete("", summary="Empty your cart")
async def clear_cart(customer: Customer, uow: UoW, session: ReadSession) -> CartOut:
    await handlers.clear_cart(customer.subject, uow)
    return await _cart_out(session, customer.subject)


@router.put("/reminders", summary="Turn abandoned-cart reminder e-mails on or off")
async def set_reminders(
    body: RemindersIn, customer: Customer, uow: UoW, session: ReadSession
) -> CartOut:
    await handlers.set_reminders(
        customer.subject, body.enabled, uow, email=verified_email(customer)
    )
    return await _cart_out(session, customer.subject)


@router.post(
    "/checkout",
    status_code=status.HTTP_201_CREATED,
    summary="Check out: place your cart as an order at the total you saw",
    responses={
        200: {"description": "Replay: an earlier request with this key placed the order"},
        409: {"description": "Empty cart, or the total changed (the new totals are in `cart`)"},
        422: {"description": "A line can no longer be bought (`errors` name it), or bad input"},
    },
)
async def checkout(
    body: CheckoutIn,
    customer: Customer,
    uow: UoW,
    session: ReadSession,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> OrderOut:
    command = handlers.Checkout(
        customer=customer.subject,
        email=order_email(request, customer, None if body.email is None else str(body.email)),
        address=body.address.contract(),
        expected_total=body.expected_total,
        idempotency_key=checked_key(idempotency_key),
        request_hash=handlers.request_hash({"checkout": body.model_dump(mode="json")}),
    )
    try:
        placed = await handlers.checkout(command, uow)
    except handlers.LinesNotSellable as exc:
        raise _not_sellable(exc) from None
    except handlers.TotalChanged as exc:
        raise _total_changed(exc, customer) from None
    return await placed_out(session, placed, customer, response)


def _not_sellable(exc: handlers.LinesNotSellable) -> Problem:
    return Problem(
        422,
        UNPROCESSABLE,
        "Some lines of your cart can no longer be bought as they are; change or remove them.",
        errors=[
            {
                "loc": ["cart", "lines", str(line.line.line_id)],
                "msg": f"{line.line.name}: " + "; ".join(line.problems),
                "type": "line_not_sellable",
                "line_id": str(line.line.line_id),
                "product_id": str(line.line.product_id),
            }
            for line in exc.lines
        ],
    )


def _total_changed(exc: handlers.TotalChanged, customer: Principal) -> Problem:
    cart = Cart.open(customer.subject)
    view = cart_view(cart, exc.now)
    return Problem(
        409,
        "Conflict",
        str(exc),
        type_="about:blank",
        total=str(exc.now.total),
        currency=exc.now.currency,
        cart=view.model_dump(mode="json", exclude={"id", "reminders", "version"}),
    )
