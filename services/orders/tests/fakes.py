"""In-memory fakes of the orders store and repository, for unit tests of the handlers;
the unit of work is the shared one (`tests/support/fakes.py`), which also keeps the
idempotency keys a commit claimed."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from uuid import UUID

from marcus_eventstore import Aggregate
from marcus_pricing import ProductFacts
from orders.cart import Cart
from orders.domain import Order, PricedProduct
from orders.storage.repository import IdempotencyRecord
from tests.support import fakes


class FakeStore(fakes.FakeStore):
    """What is committed: aggregates, products, keys, and every event in order."""

    def __init__(self, products: Iterable[ProductFacts] = ()) -> None:
        super().__init__()
        self.carts: dict[UUID, Cart] = {}
        self.orders: dict[UUID, Order] = {}
        self.products = {p.id: p for p in products}
        self.keys: dict[tuple[str, str], IdempotencyRecord] = {}

    def keep(self, aggregate: Aggregate) -> None:
        if isinstance(aggregate, Cart):
            self.carts[aggregate.id] = copy.deepcopy(aggregate)
        elif isinstance(aggregate, Order):
            self.orders[aggregate.id] = copy.deepcopy(aggregate)


class FakeRepository(fakes.FakeRepository[FakeStore]):
    def __init__(self, store: FakeStore) -> None:
        super().__init__(store)
        self.claimed: dict[tuple[str, str], IdempotencyRecord] = {}

    async def cart(self, cart_id: UUID, *, lock: bool = True) -> Cart | None:
        return self.loaded(self.store.carts.get(cart_id))

    async def order(self, order_id: UUID, *, lock: bool = False) -> Order | None:
        return self.loaded(self.store.orders.get(order_id))

    async def products(self, product_ids: Iterable[UUID]) -> dict[UUID, PricedProduct]:
        """Known, not deleted products, as an order's lines are drafted from them."""
        found = (self.store.products.get(p) for p in set(product_ids))
        return {
            p.id: PricedProduct(p.id, p.sku, p.name, p.price, p.currency, p.kind, p.base_product_id)
            for p in found
            if p is not None and not p.deleted
        }

    async def catalog(self, product_ids: Iterable[UUID]) -> dict[UUID, ProductFacts]:
        wanted = set(product_ids)
        found = {p: self.store.products[p] for p in wanted if p in self.store.products}
        for product in list(found.values()):
            base = product.base_product_id
            if base is not None and base in self.store.products:
                found[base] = self.store.products[base]
        return found

    async def claim_idempotency_key(
        self, customer: str, key: str, request_hash: str, order_id: UUID
    ) -> bool:
        if (customer, key) in self.store.keys or (customer, key) in self.claimed:
            return False
        self.claimed[(customer, key)] = IdempotencyRecord(request_hash, order_id)
        return True

    async def idempotency_record(self, customer: str, key: str) -> IdempotencyRecord | None:
        return self.store.keys.get((customer, key))


class FakeUnitOfWork(fakes.FakeUnitOfWork[FakeStore, FakeRepository]):
    def make_repository(self) -> FakeRepository:
        return FakeRepository(self.store)

    def keep(self) -> None:
        self.store.keys.update(self.repo.claimed)

    async def record(self) -> list[object]:
        """The real one appends and projects before the commit; here the commit does."""
        return []

    async def order_view(self, order_id: UUID) -> None:
        """No read side here: the route reads the order itself."""
        return None
