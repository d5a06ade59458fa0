"""Compensation of a rejected checkout: the order's lines go back into the customer's
cart, each with a note saying why, in the unit of work that rejects the order (so the
rejection and the restored lines commit together, or neither)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from marcus_contracts import new_event_id
from marcus_contracts.events import orders as ev
from marcus_contracts.events.cart import CartLine
from orders.cart import Cart

if TYPE_CHECKING:
    from orders.domain import Order
    from orders.storage.uow import OrdersUnitOfWork


RESTORED_FIELDS = {"product_id", "sku", "name", "kind", "base_product_id", "options", "quantity"}
"""What a cart line restored from an order line keeps of it (its price is the order's)."""


def reason_text(reason: ev.RejectionReason) -> str:
    if reason.message:
        return reason.message
    return f"{reason.reason.replace('_', ' ')} ({reason.requested} asked for, {reason.available} available)"


def note_for(index: int, line: ev.OrderLine, reasons: Sequence[ev.RejectionReason]) -> str:
    """Why this line is back: its own reasons, or else the other lines' (the catalog
    reserves an order in full or not at all)."""
    own = [
        r
        for r in reasons
        if r.line == index
        or (r.line is None and r.product_id in (line.product_id, line.base_product_id))
    ]
    if own:
        return "Not ordered: " + "; ".join(reason_text(r) for r in own)
    others = "; ".join(reason_text(r) for r in reasons) or "the catalog refused it"
    return f"Not ordered, because of another line of the order: {others}"


def restored_lines(order: Order, reasons: Sequence[ev.RejectionReason]) -> list[CartLine]:
    return [
        CartLine(
            **line.model_dump(include=RESTORED_FIELDS),
            line_id=new_event_id(),
            unit_price=line.unit_price if line.unit_price is not None else Decimal("0.00"),
            currency=order.currency,
            note=note_for(index, line, reasons),
        )
        for index, line in enumerate(order.lines)
    ]


async def restore_into_cart(
    order: Order, reasons: Sequence[ev.RejectionReason], uow: OrdersUnitOfWork
) -> list[Cart]:
    """Give a rejected checkout's lines back (nothing for an order placed from raw lines).
    Call it inside the unit of work that rejected the order."""
    if order.cart_id is None:
        return []
    cart = await uow.repo.cart(order.cart_id, lock=True)
    if cart is None:  # not possible after a checkout; the cart is the customer's all the same
        cart = Cart(id=order.cart_id, version=0, customer=order.customer)
        uow.repo.add(cart)
    cart.restore(order.id, restored_lines(order, reasons))
    return [cart]
