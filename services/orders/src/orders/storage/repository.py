"""Loads Order aggregates from the projections (remembering them for the unit of work),
and reads/writes the orders service's own bookkeeping tables in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import Uuid, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY, insert

from marcus_contracts.events.orders import OrderLine, ShippingAddress
from marcus_eventstore import AggregateRepository
from orders.domain import Order, PricedProduct
from orders.storage.tables import (
    idempotency_keys,
    order_lines,
    orders,
    products,
)


@dataclass(frozen=True)
class IdempotencyRecord:
    request_hash: str
    order_id: UUID


class Repository(AggregateRepository):
    async def order(self, order_id: UUID, *, lock: bool = False) -> Order | None:
        """`lock` holds the order's row until commit: the saga's answers for one order
        (one event per reserved product, possibly on several replicas) and the customer's
        cancel then apply one after the other.

        The order and its lines come in one statement (the saga's confirmation is the
        hot path: one round trip less). A locked read that waited for another writer
        sees the order's row as that writer left it but the lines as they were when the
        statement began; only a confirmation changes the lines, and it moves the order
        out of `pending`, so a locked order still pending has its current lines, and any
        other is read again once locked (the lines as they are now)."""
        query = (
            select(orders, *order_lines.c)
            .outerjoin(order_lines, order_lines.c.order_id == orders.c.id)
            .where(orders.c.id == order_id)
            .order_by(order_lines.c.line_no)
        )
        if lock:
            query = query.with_for_update(of=orders)
        rows = list(await self.session.execute(query))
        if not rows:
            return None
        row = rows[0]
        lines: Iterable[Any] = [line for line in rows if line.line_no is not None]
        if lock and row.status != "pending":
            lines = await self.session.execute(
                select(order_lines).where(order_lines.c.order_id == order_id).order_by("line_no")
            )
        order = Order(
            id=row.id,
            version=row.version,
            customer=row.customer,
            email=row.email,
            currency=row.currency,
            lines=[_line(line) for line in lines],
            total=row.total,
            status=row.status,
            cart_id=row.cart_id,
            address=None if row.address is None else ShippingAddress.model_validate(row.address),
        )
        return self.remember(order)

    async def products(self, product_ids: Iterable[UUID]) -> dict[UUID, PricedProduct]:
        """Known, not deleted products of the read model. The ids go in as one array
        (`= ANY`): an IN list is rendered anew into the statement for every call."""
        query = select(products).where(
            products.c.id == any_(bindparam("ids", list(set(product_ids)), type_=ARRAY(Uuid))),
            products.c.deleted.is_(False),
        )
        return {
            row.id: PricedProduct(
                row.id, row.sku, row.name, row.price, row.currency, row.kind, row.base_product_id
            )
            for row in await self.session.execute(query)
        }

    async def claim_idempotency_key(
        self, customer: str, key: str, request_hash: str, order_id: UUID
    ) -> bool:
        """Reserve (customer, key) for this order; False if it is taken. A concurrent
        request with the same key waits here until the first one commits or rolls back."""
        statement = (
            insert(idempotency_keys)
            .values(customer=customer, key=key, request_hash=request_hash, order_id=order_id)
            .on_conflict_do_nothing()
            .returning(idempotency_keys.c.order_id)
        )
        return (await self.session.execute(statement)).first() is not None

    async def idempotency_record(self, customer: str, key: str) -> IdempotencyRecord | None:
        row = (
            await self.session.execute(
                select(idempotency_keys).where(
                    idempotency_keys.c.customer == customer, idempotency_keys.c.key == key
                )
            )
        ).first()
        return None if row is None else IdempotencyRecord(row.request_hash, row.order_id)


def _line(row: Any) -> OrderLine:
    """An `order_lines` row as the line its events carry (the columns are its fields)."""
    return OrderLine.model_validate(row, from_attributes=True)
