"""Loading carts (locked, for a command) and the catalog's products as the pricing rules
read them, from the projections and the read model, in the unit of work's transaction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from marcus_contracts.events.cart import CartLine
from marcus_eventstore import Aggregate
from marcus_pricing import ProductFacts
from orders.cart import Cart
from orders.storage.read_model import configuration_from_json
from orders.storage.tables import cart_lines, carts, products


class CartRepository:
    """Cart and catalog reads; mixed into the orders repository (same session, same
    `seen` list, so the unit of work commits a cart and an order together)."""

    session: AsyncSession
    seen: list[Aggregate]

    async def cart(self, cart_id: UUID, *, lock: bool = True) -> Cart | None:
        """The cart (None: it has no event yet). `lock` holds its row until commit
        (SELECT ... FOR UPDATE): two commands on one cart (two checkouts, a checkout and a
        rejected order giving lines back) apply one after the other. A cart without a row
        yet is locked by its id (an advisory lock) so that its first two commands do too."""
        query = select(carts).where(carts.c.id == cart_id)
        if lock:
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        if row is None and lock:
            await self.session.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                {"key": f"orders.cart:{cart_id}"},
            )
            row = (await self.session.execute(query)).first()
        if row is None:
            return None
        lines = await self.session.execute(
            select(cart_lines)
            .where(cart_lines.c.cart_id == cart_id)
            .order_by(cart_lines.c.position)
        )
        cart = Cart(
            id=row.id,
            version=row.version,
            customer=row.customer,
            email=row.email,
            lines=[cart_line(line) for line in lines],
            reminders=row.reminders,
        )
        self.seen.append(cart)
        return cart

    async def catalog(self, product_ids: Iterable[UUID]) -> dict[UUID, ProductFacts]:
        """These products as the read model knows them (deleted ones too, flagged), with
        the base products of preconfigured ones (their options' stock and rules)."""
        return await catalog_products(self.session, product_ids)


async def catalog_products(
    session: AsyncSession, product_ids: Iterable[UUID]
) -> dict[UUID, ProductFacts]:
    wanted, asked = set(product_ids), set()
    found: dict[UUID, ProductFacts] = {}
    while wanted:
        asked |= wanted
        rows = await session.execute(select(products).where(products.c.id.in_(list(wanted))))
        for row in rows:
            found[row.id] = product_facts(row)
        wanted = {p.base_product_id for p in found.values() if p.base_product_id} - asked
    return found


PRODUCT_COLUMNS = ("id", "sku", "name", "price", "currency", "kind", "stock", "deleted")
"""Columns of `products` that are `ProductFacts` fields as they are."""


def product_facts(row: Any) -> ProductFacts:
    return ProductFacts(
        **{column: getattr(row, column) for column in PRODUCT_COLUMNS},
        configuration=configuration_from_json(row.configuration or {}),
        base_product_id=row.base_product_id,
        option_ids=tuple(UUID(o) for o in row.selection or []),
    )


def cart_line(row: Any) -> CartLine:
    """A `cart_lines` row as the line its events carry (the columns are its fields)."""
    return CartLine.model_validate(row, from_attributes=True)
