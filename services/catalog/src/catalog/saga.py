"""The catalog's part of the order saga: reserve stock for a placed order, all lines or
none, and release it when the order is cancelled.

Both run in the consumer's ledger transaction (`UnitOfWork.joining`), so the order event
is marked processed if and only if the stock change and its events commit: a redelivered
order event changes nothing.

Never overselling, with concurrent orders and several catalog replicas: the order's
products are locked (SELECT ... FOR UPDATE) in id order before their stock is read, so
two reservations of one product run one after the other, and two orders over the same
products can never deadlock. API writes lock the product row the same way, so a PATCH
and a reservation queue up instead of racing for the product's next sequence. Should the
event store still report a concurrent append (ConcurrencyError), the reservation is
retried from a savepoint instead of failing the saga.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.domain import OrderReservation
from catalog.storage.uow import CatalogUnitOfWork
from marcus_contracts.events import catalog as ev
from marcus_eventstore import CommandContext, ConcurrencyError

log = logging.getLogger("catalog.saga")

RETRIES = 3
T = TypeVar("T")


@dataclass(frozen=True)
class ReserveStock:
    order_id: UUID
    lines: list[tuple[UUID, int]]
    """(product id, quantity); a product may appear on several lines: they add up."""


@dataclass(frozen=True)
class ReleaseStock:
    order_id: UUID


def wanted(lines: list[tuple[UUID, int]]) -> dict[UUID, int]:
    """Quantity per product, in product id order (the lock order)."""
    total: dict[UUID, int] = {}
    for product_id, quantity in lines:
        total[product_id] = total.get(product_id, 0) + quantity
    return dict(sorted(total.items()))


async def reserve_stock(cmd: ReserveStock, session: AsyncSession, context: CommandContext) -> bool:
    """True if every line was reserved; False if the order was rejected."""
    return await _in_savepoint(
        session, lambda: _reserve(cmd, CatalogUnitOfWork.joining(session, context))
    )


async def release_stock(cmd: ReleaseStock, session: AsyncSession, context: CommandContext) -> int:
    """Put back what is still reserved for the order; returns how many products."""
    return await _in_savepoint(
        session, lambda: _release(cmd, CatalogUnitOfWork.joining(session, context))
    )


async def _reserve(cmd: ReserveStock, uow: CatalogUnitOfWork) -> bool:
    async with uow:
        quantities = wanted(cmd.lines)
        found = await uow.repo.products_for_update(list(quantities))
        refused = [
            ev.RejectedLine(
                product_id=product_id,
                requested=quantity,
                available=found[product_id].stock if product_id in found else 0,
                reason="insufficient_stock" if product_id in found else "unknown_product",
            )
            for product_id, quantity in quantities.items()
            if product_id not in found or found[product_id].stock < quantity
        ]
        if refused:
            uow.repo.add(OrderReservation.rejected(cmd.order_id, refused))
        else:
            for product_id, quantity in quantities.items():
                found[product_id].reserve(cmd.order_id, quantity)
        await uow.commit()
        return not refused


async def _release(cmd: ReleaseStock, uow: CatalogUnitOfWork) -> int:
    async with uow:
        lines = await uow.repo.reserved_lines(cmd.order_id)
        found = await uow.repo.products_for_update([product_id for product_id, _ in lines])
        released = 0
        for product_id, quantity in lines:
            product = found.get(product_id)
            if product is None:  # deleted since: nothing to put the units back on
                log.warning(
                    "order %s: product %s was deleted; %d units not released",
                    cmd.order_id,
                    product_id,
                    quantity,
                )
                continue
            product.release(cmd.order_id, quantity)
            released += 1
        await uow.commit()
        return released


async def _in_savepoint(session: AsyncSession, attempt: Callable[[], Awaitable[T]]) -> T:
    """Run `attempt` in a savepoint; on ConcurrencyError roll back to it and try again
    (a fresh unit of work reloads the products)."""
    for tries in range(1, RETRIES + 1):
        savepoint = await session.begin_nested()
        try:
            result = await attempt()
        except ConcurrencyError:
            await savepoint.rollback()
            if tries == RETRIES:
                raise
            log.info("concurrent write to a product; retrying the saga step (%d)", tries)
            continue
        await savepoint.commit()
        return result
    raise AssertionError("unreachable")
