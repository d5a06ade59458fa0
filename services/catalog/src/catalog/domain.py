"""The catalog's aggregates: categories and products. Pure logic, no I/O.

Each change records an event (a contracts model) with the aggregate's next sequence;
the unit of work stores the events and projects them, so a change that is not recorded
as an event cannot happen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

from marcus_contracts import new_event_id
from marcus_contracts.events import catalog as ev
from marcus_eventstore.aggregate import Aggregate, DomainError, NotFound


@dataclass
class Category(Aggregate):
    slug: str = ""
    name: str = ""
    description: str = ""

    @classmethod
    def create(cls, slug: str, name: str, description: str = "") -> Category:
        category = cls(id=new_event_id(), version=0, slug=slug, name=name, description=description)
        category._record(
            ev.CategoryCreatedV1(
                category_id=category.id, slug=slug, name=name, description=description
            )
        )
        return category

    def update(self, **changes: Any) -> None:
        changed = {k: v for k, v in changes.items() if getattr(self, k) != v}
        if not changed:
            return
        for key, value in changed.items():
            setattr(self, key, value)
        self._record(
            ev.CategoryUpdatedV1(
                category_id=self.id, slug=self.slug, name=self.name, description=self.description
            )
        )

    def ref(self) -> ev.CategoryRef:
        return ev.CategoryRef(id=self.id, slug=self.slug, name=self.name)


PRODUCT_FIELDS = ("sku", "name", "description", "price", "currency", "attributes")


@dataclass
class Product(Aggregate):
    sku: str = ""
    name: str = ""
    description: str = ""
    price: Decimal = Decimal("0")
    currency: str = "EUR"
    category: ev.CategoryRef | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    stock: int = 0
    deleted: bool = False

    @classmethod
    def create(
        cls,
        *,
        sku: str,
        name: str,
        description: str,
        price: Decimal,
        currency: str,
        category: Category,
        attributes: dict[str, Any],
        stock: int,
    ) -> Product:
        product = cls(
            id=new_event_id(),
            version=0,
            sku=sku,
            name=name,
            description=description,
            price=price,
            currency=currency,
            category=category.ref(),
            attributes=dict(attributes),
            stock=stock,
        )
        product._record(ev.ProductCreatedV3(**product._snapshot()))
        return product

    def update(self, category: Category | None = None, **changes: Any) -> None:
        """Apply the given field changes; records one event only if something changed."""
        self._ensure_alive()
        unknown = set(changes) - set(PRODUCT_FIELDS)
        if unknown:
            raise DomainError(f"cannot change {sorted(unknown)}")
        changed = {k: v for k, v in changes.items() if getattr(self, k) != v}
        new_ref = category.ref() if category is not None else self.category
        if not changed and new_ref == self.category:
            return
        for key, value in changed.items():
            setattr(self, key, value)
        self.category = new_ref
        self._record(ev.ProductUpdatedV3(**self._snapshot()))

    def set_stock(self, stock: int, reason: str = "") -> None:
        self._ensure_alive()
        if stock < 0:
            raise DomainError("stock cannot be negative")
        if stock == self.stock:
            return
        delta = stock - self.stock
        self.stock = stock
        self._record(
            ev.StockAdjustedV1(product_id=self.id, delta=delta, stock=stock, reason=reason)
        )

    def reserve(self, order_id: UUID, quantity: int) -> None:
        """Take `quantity` units for an order (the stock saga); never below zero."""
        self._ensure_alive()
        if quantity <= 0:
            raise DomainError("a reservation needs a positive quantity")
        if quantity > self.stock:
            raise DomainError(f"only {self.stock} of product {self.id} in stock")
        self.stock -= quantity
        self._record(
            ev.StockReservedV1(
                product_id=self.id, order_id=order_id, quantity=quantity, stock=self.stock
            )
        )

    def release(self, order_id: UUID, quantity: int) -> None:
        """Give back units reserved for an order that was cancelled."""
        self._ensure_alive()
        self.stock += quantity
        self._record(
            ev.StockReleasedV1(
                product_id=self.id, order_id=order_id, quantity=quantity, stock=self.stock
            )
        )

    def delete(self) -> None:
        self._ensure_alive()
        self.deleted = True
        self._record(ev.ProductDeletedV1(product_id=self.id, sku=self.sku))

    def _ensure_alive(self) -> None:
        if self.deleted:
            raise NotFound(f"product {self.id} was deleted")

    def _snapshot(self) -> dict[str, Any]:
        return {
            "product_id": self.id,
            "sku": self.sku,
            "name": self.name,
            "description": self.description,
            "price": self.price,
            "currency": self.currency,
            "category": self.category,
            "attributes": self.attributes,
            "stock": self.stock,
        }


@dataclass
class OrderReservation(Aggregate):
    """The catalog's answer to one order when it is a refusal (subject = order id).

    A successful reservation is recorded on the products themselves (their stock changed);
    a refusal changes no product, so it is an event of its own aggregate."""

    @classmethod
    def rejected(cls, order_id: UUID, lines: list[ev.RejectedLine]) -> OrderReservation:
        reservation = cls(id=order_id, version=0)
        reservation._record(ev.StockRejectedV1(order_id=order_id, lines=lines))
        return reservation
