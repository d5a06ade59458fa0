"""Loads aggregates from the projections and remembers them for the unit of work.

Lock order (every command that changes products follows it, so none can deadlock with
another): simple and configurable products first, in id order; then preconfigured
products, in id order. A preconfigured product's stock and option names follow its base
product, so any command that changes one holds its base product's lock first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.domain import CONFIGURABLE, PRECONFIGURED, Category, Product
from catalog.storage.configurations import load_configurations, load_selections
from catalog.storage.queries import PRODUCT_BY_ID, product_query
from catalog.storage.tables import categories, option_reservations, products, reservations
from marcus_contracts.events.catalog import CategoryRef
from marcus_eventstore import Aggregate

Head = tuple[str, UUID | None]
"""A product's kind and base product: fixed when it is created, never changed."""

HEADS_KEPT = 100_000
_heads: dict[UUID, Head] = {}
"""Heads known in this process (`Repository.heads`): every reservation and every product
write asks for them before it locks, and an answer that cannot change need not be read
twice. Filled from every product row the repository loads and every product it adds (a
product this replica created is written to next without reading its head; a creation
that rolled back leaves the head of an id no product will ever have: ids are never
reused). Emptied when it holds `HEADS_KEPT`."""


def _remember_head(product_id: UUID, head: Head) -> None:
    if len(_heads) >= HEADS_KEPT:
        _heads.clear()
    _heads[product_id] = head


def _locking(which: Any) -> Select[Any]:
    """The products `which` selects, locked (SELECT ... FOR UPDATE) in id order."""
    return product_query().where(which).order_by(products.c.id).with_for_update(of=products)


# Statements of every write, built once: SQLAlchemy then neither builds them nor computes
# their cache keys again on every execution (a statement object memoises its key).
_LOCK_ONE = _locking(products.c.id == bindparam("id"))
_LOCK_MANY = _locking(products.c.id.in_(bindparam("ids", expanding=True)))
_LOCK_PRESETS = _locking(products.c.base_product_id.in_(bindparam("ids", expanding=True)))
_HEADS = select(products.c.id, products.c.kind, products.c.base_product_id).where(
    products.c.id.in_(bindparam("ids", expanding=True))
)
_CATEGORY = select(categories).where(categories.c.id == bindparam("id"))


def category_from_row(row: Any) -> Category:
    return Category(
        id=row.id, version=row.version, slug=row.slug, name=row.name, description=row.description
    )


class Repository:
    """Tracks every aggregate it hands out, so the unit of work can collect their events.
    One instance per product per unit of work (an identity map): two copies of one
    product would record two events with the same sequence."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.seen: list[Aggregate] = []
        self._products: dict[UUID, Product] = {}
        self.locked_rows = False
        """True once this transaction locked a product row (SELECT ... FOR UPDATE), which
        gave it a transaction id (see `CatalogUnitOfWork.commit`)."""

    def add(self, aggregate: Aggregate) -> None:
        self.seen.append(aggregate)
        if isinstance(aggregate, Product):
            _remember_head(aggregate.id, (aggregate.kind, aggregate.base_product_id))

    async def category(self, category_id: UUID) -> Category | None:
        row = (await self.session.execute(_CATEGORY, {"id": category_id})).first()
        if row is None:
            return None
        category = category_from_row(row)
        self.seen.append(category)
        return category

    async def product(self, product_id: UUID, *, lock: bool = False) -> Product | None:
        """`lock`: hold the product's row until the transaction ends (every command that
        changes a product does), so writers of one product queue up instead of failing on
        the event store's (subject, sequence) check or deadlocking with the stock saga."""
        if lock:
            return (await self.products_for_update([product_id])).get(product_id)
        row = (await self.session.execute(PRODUCT_BY_ID, {"product_id": product_id})).first()
        return None if row is None else (await self._load([row]))[0]

    async def product_for_change(self, product_id: UUID) -> Product | None:
        """Lock a product for a command that changes it, in the lock order: a
        preconfigured product's base product first."""
        head = await self.heads([product_id])
        base_id = head.get(product_id, (None, None))[1]
        if base_id is not None:
            await self.products_for_update([base_id])
        return await self.product(product_id, lock=True)

    async def heads(self, product_ids: Sequence[UUID]) -> dict[UUID, Head]:
        """Kind and base product of these products, without locking (both never change,
        so those read once are answered from `_heads`). Unknown ids are absent."""
        wanted = set(product_ids)
        known = {product_id: _heads[product_id] for product_id in wanted if product_id in _heads}
        missing = wanted.difference(known)
        if missing:
            rows = await self.session.execute(_HEADS, {"ids": list(missing)})
            for row in rows:
                known[row.id] = head = (row.kind, row.base_product_id)
                _remember_head(row.id, head)
        return known

    async def products_for_update(self, product_ids: Sequence[UUID]) -> dict[UUID, Product]:
        """Lock and load these products in id order (concurrent reservations of the same
        products always lock in the same order, so they never deadlock). Missing ids are
        absent from the result."""
        ids = sorted(set(product_ids))
        if not ids:
            return {}
        if len(ids) == 1:  # the same plan as IN with one id, without expanding the IN
            return await self._locked(_LOCK_ONE, {"id": ids[0]})
        return await self._locked(_LOCK_MANY, {"ids": ids})

    async def presets_of(self, base_ids: Sequence[UUID]) -> dict[UUID, Product]:
        """Lock and load the preconfigured products of these base products (call it with
        the base products locked: no preconfigured product of theirs can appear or go
        meanwhile)."""
        if not base_ids:
            return {}
        return await self._locked(_LOCK_PRESETS, {"ids": sorted(set(base_ids))})

    async def _locked(self, query: Select[Any], params: dict[str, Any]) -> dict[UUID, Product]:
        """The products a `_locking` statement selects, locked in id order."""
        rows = (await self.session.execute(query, params)).all()
        if rows:
            self.locked_rows = True
        return {product.id: product for product in await self._load(rows)}

    async def products_after(self, after: UUID | None, limit: int) -> list[Product]:
        """The next `limit` products by id after `after`, unlocked (a snapshot reads them
        in one REPEATABLE READ transaction instead)."""
        query = product_query().order_by(products.c.id).limit(limit)
        if after is not None:
            query = query.where(products.c.id > after)
        return await self._load((await self.session.execute(query)).all())

    async def reserved_lines(self, order_id: UUID) -> list[tuple[UUID, int]]:
        """(product, quantity) still reserved for an order."""
        query = (
            select(reservations.c.product_id, reservations.c.quantity)
            .where(reservations.c.order_id == order_id, reservations.c.status == "reserved")
            .order_by(reservations.c.product_id)
        )
        return [(row.product_id, int(row.quantity)) for row in (await self.session.execute(query))]

    async def reserved_options(self, order_id: UUID) -> dict[UUID, dict[UUID, int]]:
        """product -> option -> units still reserved for an order."""
        query = select(option_reservations).where(
            option_reservations.c.order_id == order_id,
            option_reservations.c.status == "reserved",
        )
        held: defaultdict[UUID, dict[UUID, int]] = defaultdict(dict)
        for row in await self.session.execute(query):
            held[row.product_id][row.option_id] = int(row.quantity)
        return dict(held)

    async def _load(self, rows: Sequence[Any]) -> list[Product]:
        """Aggregates of these rows, with configurations and selections attached; a
        product loaded before in this unit of work is handed out again, not copied."""
        fresh = [_product_from_row(row) for row in rows if row.id not in self._products]
        configs = await load_configurations(
            self.session, [p.id for p in fresh if p.kind == CONFIGURABLE]
        )
        selections = await load_selections(
            self.session, [p.id for p in fresh if p.kind == PRECONFIGURED]
        )
        for product in fresh:
            _remember_head(product.id, (product.kind, product.base_product_id))
            if product.id in configs:
                product.configuration = configs[product.id]
            if product.id in selections:
                product.selection = selections[product.id]
            self._products[product.id] = product
            self.seen.append(product)
        return [self._products[row.id] for row in rows]


def _product_from_row(row: Any) -> Product:
    return Product(
        id=row.id,
        version=row.version,
        sku=row.sku,
        name=row.name,
        description=row.description,
        price=row.price,
        currency=row.currency,
        category=CategoryRef(id=row.category_id, slug=row.category_slug, name=row.category_name),
        attributes=dict(row.attributes),
        stock=row.stock,
        kind=row.kind,
        base_product_id=row.base_product_id,
    )
