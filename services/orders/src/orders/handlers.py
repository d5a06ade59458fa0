"""Command handlers of the orders service: each use case in one unit of work.

Orders: the HTTP routes place, cancel, ship and deliver them; the consumer records the
catalog's answer with a unit of work joined to its ledger transaction (so the answer is
marked processed if and only if the order's change commits). The answer to an order is
one event: `StockAllocated` (confirm at its prices) or `StockRejected` (reject; an
order checked out from a cart gives its lines back to the cart).

The cart: the customer's changes, and the checkout that places the order and empties the
cart in the same transaction. Every cart command loads the cart locked (its row, FOR
UPDATE), so two commands on one cart apply one after the other: two checkouts of one
cart give one order, the other finds the cart empty (409) or replays the first (same
Idempotency-Key).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from marcus_contracts import new_event_id
from marcus_contracts.events import orders as ev
from marcus_contracts.events.cart import CartLine
from marcus_contracts.events.catalog import StockAllocated, StockRejected
from marcus_eventstore import Conflict, DomainError, NotFound
from orders.cart import Cart, cart_id_of
from orders.cart_pricing import CartNow, LineNow, cart_now, quote_item
from orders.compensation import restore_into_cart
from orders.domain import LineRequest, Order, draft_lines
from orders.storage.uow import OrdersUnitOfWork as UnitOfWork

log = logging.getLogger("orders.handlers")


class LinesNotSellable(DomainError):
    """Lines that can no longer be bought as they are (422, naming each)."""

    def __init__(self, lines: Sequence[LineNow]) -> None:
        super().__init__(
            "; ".join(f"{line.line.name}: {', '.join(line.problems)}" for line in lines)
        )
        self.lines = list(lines)


class TotalChanged(Conflict):
    """The cart's total is not the one the customer saw (409, with the new totals)."""

    def __init__(self, now: CartNow, expected: Decimal) -> None:
        super().__init__(
            f"the cart's total is now {now.currency} {now.total}, not {expected}:"
            " check the new prices and confirm again"
        )
        self.now = now


@dataclass(frozen=True, kw_only=True)
class Placement:
    """A command that places an order: the customer, where its e-mails go, and the
    request's Idempotency-Key with the fingerprint of its body."""

    customer: str
    email: str
    idempotency_key: str | None = None
    request_hash: str = ""


@dataclass(frozen=True, kw_only=True)
class PlaceOrder(Placement):
    lines: list[LineRequest]


@dataclass(frozen=True, kw_only=True)
class Checkout(Placement):
    address: ev.ShippingAddress
    expected_total: Decimal


@dataclass(frozen=True)
class Placed:
    order_id: UUID
    replayed: bool
    """True when an earlier request with the same Idempotency-Key created the order."""
    view: dict[str, Any] | None = None
    """The order as the read side shows it, read in the placing transaction (the answer
    needs no transaction of its own); None for a replay."""


@dataclass(frozen=True)
class AddLine:
    customer: str
    product_id: UUID
    quantity: int
    options: tuple[UUID, ...] = ()
    email: str | None = None


@dataclass(frozen=True)
class Added:
    line_id: UUID
    merged: bool
    """True: the cart had this product with these options; its quantity grew."""


def request_hash(body: dict[str, Any]) -> str:
    """Fingerprint of a request body: same key + same hash = the same request."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _claim(uow: UnitOfWork, cmd: Placement, order_id: UUID) -> Placed | None:
    """The Idempotency-Key claim of a placement: None when there is no key or this request
    took it; the earlier order when the same request made it; 409 for another body."""
    if cmd.idempotency_key is None:
        return None
    if await uow.repo.claim_idempotency_key(
        cmd.customer, cmd.idempotency_key, cmd.request_hash, order_id
    ):
        return None
    record = await uow.repo.idempotency_record(cmd.customer, cmd.idempotency_key)
    assert record is not None, "the key's row is committed once the claim fails"
    if record.request_hash != cmd.request_hash:
        raise Conflict("this Idempotency-Key was already used with a different request body")
    return Placed(record.order_id, replayed=True)


async def place_order(cmd: PlaceOrder, uow: UnitOfWork) -> Placed:
    order_id = new_event_id()
    async with uow:
        replay = await _claim(uow, cmd, order_id)
        if replay is not None:
            return replay
        known = await uow.repo.products(line.product_id for line in cmd.lines)
        lines, total, currency = draft_lines(cmd.lines, known)
        order = Order.place(
            order_id,
            customer=cmd.customer,
            email=cmd.email,
            lines=lines,
            total=total,
            currency=currency,
        )
        uow.repo.add(order)
        return await _placed(uow, order_id)


async def _placed(uow: UnitOfWork, order_id: UUID) -> Placed:
    """Record the placement, read the order it projected, commit."""
    await uow.record()
    view = await uow.order_view(order_id)
    await uow.commit()
    return Placed(order_id, replayed=False, view=view)


async def _own_order(uow: UnitOfWork, order_id: UUID, customer: str | None) -> Order:
    order = await uow.repo.order(order_id, lock=True)
    if order is None or (customer is not None and order.customer != customer):
        raise NotFound(f"order {order_id} does not exist")
    return order


async def cancel_order(order_id: UUID, by: str, uow: UnitOfWork, *, as_admin: bool = False) -> None:
    """The customer cancels their own order; an admin any order (the catalog releases
    the stock on `orders.order.cancelled`, the notifier e-mails the customer)."""
    async with uow:
        order = await _own_order(uow, order_id, None if as_admin else by)
        order.cancel(by=by)
        await uow.commit()


async def ship_order(order_id: UUID, admin: str, uow: UnitOfWork) -> None:
    async with uow:
        order = await _own_order(uow, order_id, None)
        order.ship(by=admin)
        await uow.commit()


async def deliver_order(order_id: UUID, admin: str, uow: UnitOfWork) -> None:
    async with uow:
        order = await _own_order(uow, order_id, None)
        order.deliver(by=admin)
        await uow.commit()


async def record_allocation(event: StockAllocated, uow: UnitOfWork) -> bool:
    """The catalog reserved and priced every line: record its prices, confirm. True if
    the order was confirmed by this call."""
    async with uow:
        order = await uow.repo.order(event.order_id, lock=True)
        if order is None:
            log.warning("stock allocated for unknown order %s; ignored", event.order_id)
            return False
        confirmed = order.confirm(event)
        await uow.commit()
        return confirmed


async def record_rejection(event: StockRejected, uow: UnitOfWork) -> bool:
    """The catalog refused the order: reject it, and give a checkout's lines back to the
    cart in the same transaction. True if the order was rejected by this call."""
    async with uow:
        order = await uow.repo.order(event.order_id, lock=True)
        if order is None:
            log.warning("stock rejected for unknown order %s; ignored", event.order_id)
            return False
        reasons = [
            ev.RejectionReason.model_validate(line, from_attributes=True) for line in event.lines
        ]
        rejected = order.reject(reasons)
        if rejected:
            await restore_into_cart(order, reasons, uow)
        await uow.commit()
        return rejected


async def _cart(uow: UnitOfWork, customer: str, email: str | None = None) -> Cart:
    """The customer's cart, locked; a new one (no event yet) if it has none."""
    cart = await uow.repo.cart(cart_id_of(customer), lock=True)
    if cart is None:
        cart = Cart.open(customer, email)
        uow.repo.add(cart)
    cart.seen_with(email)
    return cart


async def add_line(cmd: AddLine, uow: UnitOfWork) -> Added:
    """Add a line, checked and priced by the catalog's rules; refused (422) when the
    product is unknown, the configuration breaks a rule, or stock is short for the
    quantity the line then has."""
    async with uow:
        cart = await _cart(uow, cmd.customer, cmd.email)
        existing = cart.find(cmd.product_id, cmd.options)
        in_cart = existing.quantity if existing is not None else 0
        known = await uow.repo.catalog([cmd.product_id])
        item = quote_item(cmd.product_id, cmd.options, in_cart + cmd.quantity, known)
        line_id, merged = cart.add(item, cmd.quantity)
        await uow.commit()
        return Added(line_id, merged)


async def set_quantity(
    customer: str, line_id: UUID, quantity: int, uow: UnitOfWork, *, email: str | None = None
) -> None:
    async with uow:
        cart = await _cart(uow, customer, email)
        line = cart.line(line_id)
        known = await uow.repo.catalog([line.product_id])
        item = quote_item(line.product_id, [o.option_id for o in line.options], quantity, known)
        cart.set_quantity(line_id, quantity, item.unit_price)
        await uow.commit()


async def remove_line(customer: str, line_id: UUID, uow: UnitOfWork) -> None:
    async with uow:
        cart = await uow.repo.cart(cart_id_of(customer), lock=True)
        if cart is None:
            raise NotFound(f"line {line_id} is not in your cart")
        cart.remove(line_id)
        await uow.commit()


async def clear_cart(customer: str, uow: UnitOfWork) -> None:
    async with uow:
        cart = await uow.repo.cart(cart_id_of(customer), lock=True)
        if cart is not None and cart.clear("customer"):
            await uow.commit()


async def set_reminders(
    customer: str, enabled: bool, uow: UnitOfWork, *, email: str | None = None
) -> None:
    async with uow:
        cart = await _cart(uow, customer, email)
        cart.set_reminders(enabled)
        await uow.commit()


async def checkout(cmd: Checkout, uow: UnitOfWork) -> Placed:
    """Place the cart as an order and empty the cart, in one transaction; or change
    nothing: the cart is empty (409), a line cannot be bought now (422), or the total is
    not `expected_total` (409 with the new totals)."""
    order_id = new_event_id()
    async with uow:
        replay = await _claim(uow, cmd, order_id)
        if replay is not None:
            return replay
        cart = await uow.repo.cart(cart_id_of(cmd.customer), lock=True)
        if cart is None or not cart.lines:
            raise Conflict("your cart is empty: there is nothing to check out")
        known = await uow.repo.catalog(line.product_id for line in cart.lines)
        now = cart_now(cart.lines, known)
        if now.unsellable:
            raise LinesNotSellable(now.unsellable)
        if len({line.line.currency for line in now.lines}) > 1:
            raise DomainError("an order is in one currency; remove the lines in another")
        if now.total != cmd.expected_total:
            raise TotalChanged(now, cmd.expected_total)
        assert now.currency is not None
        order = Order.place(
            order_id,
            customer=cmd.customer,
            email=cmd.email,
            lines=[order_line(line) for line in now.lines],
            total=now.total,
            currency=now.currency,
            cart_id=cart.id,
            address=cmd.address,
        )
        uow.repo.add(order)
        cart.check_out(
            order_id,
            address=cmd.address,
            total=now.total,
            currency=now.currency,
            lines=[bought(line) for line in now.lines],
        )
        return await _placed(uow, order_id)


def order_line(now: LineNow) -> ev.OrderLine:
    """A cart line as an order line, at the price the customer confirmed."""
    line, item = now.line, now.item
    assert item is not None and now.unit_price is not None and now.line_total is not None
    return ev.OrderLine(
        **line.model_dump(include={"product_id", "quantity", "kind", "base_product_id"}),
        sku=item.sku,
        name=item.name,
        options=list(item.options),
        unit_price=now.unit_price,
        line_total=now.line_total,
    )


def bought(now: LineNow) -> CartLine:
    """The cart line at the price it was bought at."""
    assert now.unit_price is not None and now.item is not None
    return now.line.model_copy(
        update={"unit_price": now.unit_price, "options": list(now.item.options), "note": ""}
    )
