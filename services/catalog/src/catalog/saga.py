"""The catalog's part of the order saga: check, price and reserve a placed order, all
lines or none, and release it when the order is cancelled.

Both run in the consumer's ledger transaction (`UnitOfWork.joining`), so the order event
is marked processed if and only if the stock change and its events commit: a redelivered
order event changes nothing.

Checking and pricing is `catalog.allocation.plan` (pure): every line's configuration
validated, every line priced (the only pricing there is), then the units each product
and each option must give, summed over the order's lines. The answer is one event of the
order's reservation: `catalog.stock.allocated` with the priced lines, or
`catalog.stock.rejected` with every problem found. Stock moves are product events:
`catalog.stock.reserved` per simple product, `catalog.option_stock.reserved` per
configurable product whose options were taken, and `catalog.stock.adjusted` for each
preconfigured product whose stock (what its options allow) changed with them.

Never overselling, with concurrent orders and several catalog replicas: the order's
products are locked (SELECT ... FOR UPDATE) before their stock is read: simple and
configurable products (a preconfigured line locks its base product) in id order, then
the preconfigured products of the locked configurable products, in id order (the
repository's lock order, which API writes follow too). Two reservations of one product
or one option run one after the other, and no two commands can deadlock. Should the
event store still report a concurrent append (ConcurrencyError), the step is retried
from a savepoint instead of failing the saga.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.allocation import LineRequest, plan
from catalog.domain import CONFIGURABLE, PRECONFIGURED, OrderReservation, Product
from catalog.storage.uow import CatalogUnitOfWork
from marcus_eventstore import CommandContext, ConcurrencyError

log = logging.getLogger("catalog.saga")

RETRIES = 3
T = TypeVar("T")


@dataclass(frozen=True)
class ReserveStock:
    order_id: UUID
    lines: Sequence[LineRequest | tuple[UUID, int]]
    """The order's lines, in order; `(product id, quantity)` for a line without options.
    A product or an option may be asked for by several lines: they add up."""
    currency: str | None = None
    """The order's currency (every line must be sold in it); None: the products'."""

    def requests(self) -> list[LineRequest]:
        return [
            line if isinstance(line, LineRequest) else LineRequest(line[0], line[1])
            for line in self.lines
        ]


@dataclass(frozen=True)
class ReleaseStock:
    order_id: UUID


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
        requests = cmd.requests()
        products = await _lock_for_order(uow, [r.product_id for r in requests])
        decision = plan(requests, products, cmd.currency)
        if decision.refusals:
            uow.repo.add(OrderReservation.rejected(cmd.order_id, decision.refusals))
        else:
            for product_id, quantity in decision.simple.items():
                products[product_id].reserve(cmd.order_id, quantity)
            for base_id, demand in decision.options.items():
                products[base_id].reserve_options(cmd.order_id, demand)
            _follow_bases(products, decision.options)
            uow.repo.add(
                OrderReservation.allocated(
                    cmd.order_id, decision.currency, decision.lines, decision.total
                )
            )
        await uow.commit()
        return not decision.refusals


async def _release(cmd: ReleaseStock, uow: CatalogUnitOfWork) -> int:
    async with uow:
        lines = await uow.repo.reserved_lines(cmd.order_id)
        held = await uow.repo.reserved_options(cmd.order_id)
        found = await _lock_for_order(uow, [product_id for product_id, _ in lines] + list(held))
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
        for base_id, options in held.items():
            base = found.get(base_id)
            gone = list(options) if base is None else base.release_options(cmd.order_id, options)
            if gone:
                log.warning(
                    "order %s: options %s of product %s were deleted; their units not released",
                    cmd.order_id,
                    ", ".join(map(str, gone)),
                    base_id,
                )
            if base is not None and len(gone) < len(options):
                released += 1
        _follow_bases(found, held)
        await uow.commit()
        return released


async def _lock_for_order(uow: CatalogUnitOfWork, product_ids: list[UUID]) -> dict[UUID, Product]:
    """Lock what an order touches, in the lock order: the simple and configurable
    products (a preconfigured product stands for its base product) in id order, then
    the preconfigured products of those configurable products."""
    heads = await uow.repo.heads(product_ids)
    first = {
        base_id if kind == PRECONFIGURED and base_id is not None else product_id
        for product_id, (kind, base_id) in heads.items()
    }
    locked = await uow.repo.products_for_update(sorted(first))
    bases = [p.id for p in locked.values() if p.kind == CONFIGURABLE]
    return locked | await uow.repo.presets_of(bases)


def _follow_bases(products: dict[UUID, Product], moved: dict[UUID, dict[UUID, int]]) -> None:
    """Preconfigured products of configurable products whose option stock moved."""
    for product in products.values():
        if product.kind == PRECONFIGURED and product.base_product_id in moved:
            base = products[product.base_product_id]
            if not base.deleted:
                product.follow(base)


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
