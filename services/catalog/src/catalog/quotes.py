"""The quote: validate and price a selection for a product, without reserving anything.

Reads the current products (no lock: a quote changes nothing and promises nothing; the
saga checks and prices again when the order is placed) and prices the line with
`marcus_pricing.price_line`, the same function the stock saga prices orders with.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.domain import Product
from catalog.storage.repository import Repository
from marcus_eventstore import NotFound
from marcus_pricing import InvalidConfiguration, PricedLine, price_line


async def quote(
    session: AsyncSession, product_id: UUID, options: Sequence[UUID], quantity: int
) -> PricedLine:
    """The priced line for `quantity` units, or InvalidConfiguration (every violation,
    stock included) / NotFound."""
    repo = Repository(session)
    product = await repo.product(product_id)
    if product is None:
        raise NotFound(f"product {product_id} does not exist")
    products: dict[UUID, Product] = {product.id: product}
    if product.base_product_id is not None:
        base = await repo.product(product.base_product_id)
        if base is not None:
            products[base.id] = base
    outcome = price_line(product, products, options, stock_for=quantity)
    if isinstance(outcome, list):
        raise InvalidConfiguration(outcome)
    return outcome
