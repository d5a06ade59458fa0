"""Recommendations by strategy: similar (nearest neighbours in the index), bought
together (co-purchase counts from confirmed orders) and popular (units sold in the last
30 days, kept live from order events), each optionally within one category.

Counts come from the assistant's own tables; names, prices and stock always from the
active index, so a recommendation shows the product as it is now, and a product deleted
from the catalog (gone from the index) is never recommended.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.search import Filters, Hit, Results, SearchService
from assistant.storage import orders as orders_store

Strategy = Literal["similar", "bought_together", "popular"]
OVERFETCH = 3
"""Counted candidates fetched per wanted result: some may be deleted or filtered out."""
CATEGORY_CANDIDATES = 500
"""Counted candidates read when a category is asked for (the counts know no category:
the index says which products are in it)."""


async def recommend(
    search: SearchService,
    sessions: async_sessionmaker[AsyncSession],
    strategy: Strategy,
    product_id: UUID | None,
    k: int,
    filters: Filters,
) -> Results:
    if strategy == "similar":
        assert product_id is not None
        return await search.similar(str(product_id), k, filters)
    wanted = CATEGORY_CANDIDATES if filters.category is not None else k * OVERFETCH
    async with sessions() as db:
        if strategy == "bought_together":
            assert product_id is not None
            counted = await orders_store.bought_together(db, product_id, wanted)
        else:
            counted = await orders_store.popular(db, wanted, exclude=product_id)
    lookup = await search.products([pid for pid, _ in counted])
    hits: list[Hit] = []
    for pid, count in counted:
        found = lookup.products.get(pid)
        if found is None or not _kept(found.hit, filters):
            continue
        hit = found.hit
        hits.append(
            Hit(
                hit.product_id, hit.name, hit.price, hit.currency, hit.category, hit.in_stock, count
            )
        )
    return Results(lookup.collection, lookup.embedder, hits[:k])


def _kept(hit: Hit, filters: Filters) -> bool:
    if filters.in_stock is not None and hit.in_stock != filters.in_stock:
        return False
    return filters.category is None or hit.category == filters.category
