"""In-memory fakes of the catalog's store and repository, for unit tests of the command
handlers; the unit of work is the shared one (`tests/support/fakes.py`), refusing what
the database's unique constraints refuse. Reservations are kept the way the projector
keeps them: from the stock events."""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from catalog.domain import Category, Product
from catalog.storage.uow import CatalogUnitOfWork
from marcus_contracts import Event
from marcus_contracts.events import catalog as ev
from marcus_eventstore import Aggregate, Conflict
from tests.support import fakes


class FakeStore(fakes.FakeStore):
    """What is committed: categories, products, open reservations, every event in order."""

    def __init__(self, *aggregates: Category | Product) -> None:
        super().__init__()
        self.categories: dict[UUID, Category] = {}
        self.products: dict[UUID, Product] = {}
        self.reserved: dict[UUID, dict[UUID, int]] = defaultdict(dict)
        """order -> product -> units still reserved."""
        self.reserved_options: dict[UUID, dict[UUID, dict[UUID, int]]] = defaultdict(dict)
        """order -> product -> option -> units still reserved."""
        for aggregate in aggregates:
            self.keep(aggregate)

    def keep(self, aggregate: Aggregate) -> None:
        if isinstance(aggregate, Category):
            self.categories[aggregate.id] = copy.deepcopy(aggregate)
        elif isinstance(aggregate, Product):
            if aggregate.deleted:
                self.products.pop(aggregate.id, None)  # the projection deletes the row
            else:
                self.products[aggregate.id] = copy.deepcopy(aggregate)

    def record(self, subject: UUID, sequence: int, event: Event) -> None:
        super().record(subject, sequence, event)
        if isinstance(event, ev.StockReserved):
            self.reserved[event.order_id][event.product_id] = event.quantity
        elif isinstance(event, ev.StockReleased):
            self.reserved[event.order_id].pop(event.product_id, None)
        elif isinstance(event, ev.OptionStockReserved):
            self.reserved_options[event.order_id][event.product_id] = {
                o.option_id: o.quantity for o in event.options
            }
        elif isinstance(event, ev.OptionStockReleased):
            self.reserved_options[event.order_id].pop(event.product_id, None)


class FakeRepository(fakes.FakeRepository[FakeStore]):
    """The real repository's interface; one instance per product per unit of work."""

    def __init__(self, store: FakeStore) -> None:
        super().__init__(store)
        self._loaded: dict[UUID, Aggregate] = {}

    def _load(self, found: Aggregate | None) -> Any:
        if found is None:
            return None
        if found.id not in self._loaded:
            self._loaded[found.id] = copy.deepcopy(found)
            self.seen.append(self._loaded[found.id])
        return self._loaded[found.id]

    async def category(self, category_id: UUID) -> Category | None:
        loaded: Category | None = self._load(self.store.categories.get(category_id))
        return loaded

    async def product(self, product_id: UUID, *, lock: bool = False) -> Product | None:
        loaded: Product | None = self._load(self.store.products.get(product_id))
        return loaded

    async def product_for_change(self, product_id: UUID) -> Product | None:
        return await self.product(product_id, lock=True)

    async def heads(self, product_ids: Sequence[UUID]) -> dict[UUID, tuple[str, UUID | None]]:
        products = self.store.products
        return {
            p: (products[p].kind, products[p].base_product_id) for p in product_ids if p in products
        }

    async def products_for_update(self, product_ids: Sequence[UUID]) -> dict[UUID, Product]:
        return self._many(p for p in sorted(set(product_ids)) if p in self.store.products)

    async def presets_of(self, base_ids: Sequence[UUID]) -> dict[UUID, Product]:
        return self._many(
            p.id for p in self.store.products.values() if p.base_product_id in set(base_ids)
        )

    async def reserved_lines(self, order_id: UUID) -> list[tuple[UUID, int]]:
        return sorted(self.store.reserved.get(order_id, {}).items())

    async def reserved_options(self, order_id: UUID) -> dict[UUID, dict[UUID, int]]:
        return copy.deepcopy(self.store.reserved_options.get(order_id, {}))

    def _many(self, product_ids: Iterable[UUID]) -> dict[UUID, Product]:
        return {p: self._load(self.store.products[p]) for p in product_ids}


class FakeUnitOfWork(fakes.FakeUnitOfWork[FakeStore, FakeRepository]):
    """Commits into the `FakeStore`; refuses a duplicate slug or sku as the database's
    unique constraints do (`CatalogUnitOfWork.unique_messages`)."""

    def make_repository(self) -> FakeRepository:
        return FakeRepository(self.store)

    async def commit(self) -> list[Event]:
        self._check_unique()
        return await super().commit()

    def _check_unique(self) -> None:
        messages = CatalogUnitOfWork.unique_messages
        for kind, key, constraint in (
            (Category, "slug", "uq_categories_slug"),
            (Product, "sku", "uq_products_sku"),
        ):
            stored = self.store.categories if kind is Category else self.store.products
            owners = {getattr(a, key): a.id for a in stored.values()}
            for aggregate in self.repo.seen:
                if isinstance(aggregate, kind):
                    owner = owners.setdefault(getattr(aggregate, key), aggregate.id)
                    if owner != aggregate.id:
                        raise Conflict(messages[constraint])
