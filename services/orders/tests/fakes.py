"""In-memory fakes of the orders repository and unit of work (cosmicpython style), for
unit tests of the handlers: aggregates are stored as copies, and only a commit makes a
change (and its events) visible, as with the real transaction."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from types import TracebackType
from typing import Any
from uuid import UUID

from marcus_contracts import Event
from marcus_eventstore import Aggregate
from marcus_pricing import ProductFacts
from orders.cart import Cart
from orders.domain import Order, PricedProduct
from orders.storage.repository import IdempotencyRecord


class FakeRepository:
    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.seen: list[Aggregate] = []
        self.claimed: dict[tuple[str, str], IdempotencyRecord] = {}

    def add(self, aggregate: Aggregate) -> None:
        self.seen.append(aggregate)

    async def cart(self, cart_id: UUID, *, lock: bool = True) -> Cart | None:
        cart = copy.deepcopy(self.store.carts.get(cart_id))
        if cart is not None:
            self.seen.append(cart)
        return cart

    async def order(self, order_id: UUID, *, lock: bool = False) -> Order | None:
        order = copy.deepcopy(self.store.orders.get(order_id))
        if order is not None:
            self.seen.append(order)
        return order

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


class FakeStore:
    """What is committed: aggregates, products, keys, and every event in order."""

    def __init__(self, products: Iterable[ProductFacts] = ()) -> None:
        self.carts: dict[UUID, Cart] = {}
        self.orders: dict[UUID, Order] = {}
        self.products = {p.id: p for p in products}
        self.keys: dict[tuple[str, str], IdempotencyRecord] = {}
        self.events: list[tuple[UUID, int, Event]] = []

    def of_type(self, kind: type[Any]) -> list[Any]:
        return [event for _, _, event in self.events if isinstance(event, kind)]


class FakeUnitOfWork:
    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.commits = 0

    async def __aenter__(self) -> FakeUnitOfWork:
        self.repo = FakeRepository(self.store)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None  # uncommitted changes are dropped with the repository

    async def commit(self) -> list[Event]:
        recorded: list[Event] = []
        for aggregate in self.repo.seen:
            for event in aggregate.pending:
                aggregate.version += 1
                self.store.events.append((aggregate.id, aggregate.version, event))
                recorded.append(event)
            aggregate.pending.clear()
            if isinstance(aggregate, Cart):
                self.store.carts[aggregate.id] = copy.deepcopy(aggregate)
            elif isinstance(aggregate, Order):
                self.store.orders[aggregate.id] = copy.deepcopy(aggregate)
        self.store.keys.update(self.repo.claimed)
        self.commits += 1
        return recorded
