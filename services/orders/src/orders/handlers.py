"""Use cases of the orders service, each in one unit of work.

HTTP routes call place/cancel/ship; the consumer calls the saga steps with a unit of
work joined to its ledger transaction (so the catalog's answer is marked processed if
and only if the order's change commits). The catalog's answer to an order is one event:
`catalog.stock.allocated` (confirm at its prices) or `catalog.stock.rejected` (reject;
an order checked out from a cart gives its lines back to the cart). The cart's use cases
are in cart_handlers.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from marcus_contracts import new_event_id
from marcus_contracts.events import catalog as catalog_events
from marcus_contracts.events import orders as ev
from marcus_eventstore import Conflict, NotFound
from orders.compensation import restore_into_cart
from orders.domain import LineRequest, Order, draft_lines
from orders.storage.uow import OrdersUnitOfWork as UnitOfWork

log = logging.getLogger("orders.handlers")


@dataclass(frozen=True)
class PlaceOrder:
    customer: str
    email: str
    lines: list[LineRequest]
    idempotency_key: str | None = None
    request_hash: str = ""


@dataclass(frozen=True)
class Placed:
    order_id: UUID
    replayed: bool
    """True when an earlier request with the same Idempotency-Key created the order."""


def request_hash(body: dict[str, Any]) -> str:
    """Fingerprint of a request body: same key + same hash = the same request."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def place_order(cmd: PlaceOrder, uow: UnitOfWork) -> Placed:
    order_id = new_event_id()
    async with uow:
        if cmd.idempotency_key is not None:
            claimed = await uow.repo.claim_idempotency_key(
                cmd.customer, cmd.idempotency_key, cmd.request_hash, order_id
            )
            if not claimed:
                record = await uow.repo.idempotency_record(cmd.customer, cmd.idempotency_key)
                assert record is not None, "the key's row is committed once the claim fails"
                if record.request_hash != cmd.request_hash:
                    raise Conflict(
                        "this Idempotency-Key was already used with a different request body"
                    )
                return Placed(record.order_id, replayed=True)
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
        await uow.commit()
        return Placed(order_id, replayed=False)


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


async def record_allocation(event: catalog_events.StockAllocated, uow: UnitOfWork) -> bool:
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


async def record_rejection(event: catalog_events.StockRejected, uow: UnitOfWork) -> bool:
    async with uow:
        order = await uow.repo.order(event.order_id, lock=True)
        if order is None:
            log.warning("stock rejected for unknown order %s; ignored", event.order_id)
            return False
        reasons = [
            ev.RejectionReason(
                product_id=line.product_id,
                reason=line.reason,
                requested=line.requested,
                available=line.available,
                line=line.line,
                option_id=line.option_id,
                message=line.message,
            )
            for line in event.lines
        ]
        rejected = order.reject(reasons)
        if rejected:  # a checkout's lines go back into the cart, in this transaction
            await restore_into_cart(order, reasons, uow)
        await uow.commit()
        return rejected
