"""The catalog's aggregates: categories and products. Pure logic, no I/O.

Each change records an event (a contracts model) with the aggregate's next sequence;
the unit of work stores the events and projects them, so a change that is not recorded
as an event cannot happen.

A product is simple (own price and stock), configurable (a base price; parts, options
and rules in `configuration`; stock lives on the options) or preconfigured (a curated,
valid selection of a configurable product's options with its own price). Every change to
a product records its full snapshot (`catalog.product.updated` v3), except stock moves,
which record what changed (`catalog.stock.*`, `catalog.option_stock.*`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

from catalog import configuration as cfg
from marcus_contracts import new_event_id
from marcus_contracts.events import catalog as ev
from marcus_eventstore.aggregate import Aggregate, Conflict, DomainError, NotFound
from marcus_pricing import Configuration


@dataclass
class Category(Aggregate):
    slug: str = ""
    name: str = ""
    description: str = ""

    @classmethod
    def create(cls, slug: str, name: str, description: str = "") -> Category:
        category = cls(id=new_event_id(), version=0, slug=slug, name=name, description=description)
        category._record(
            ev.CategoryCreated(
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
            ev.CategoryUpdated(
                category_id=self.id, slug=self.slug, name=self.name, description=self.description
            )
        )

    def ref(self) -> ev.CategoryRef:
        return ev.CategoryRef(id=self.id, slug=self.slug, name=self.name)


PRODUCT_FIELDS = ("sku", "name", "description", "price", "currency", "attributes")
SIMPLE, CONFIGURABLE, PRECONFIGURED = "simple", "configurable", "preconfigured"


@dataclass
class Product(Aggregate):
    sku: str = ""
    name: str = ""
    description: str = ""
    price: Decimal = Decimal("0")
    """Simple: the price. Configurable: the base price. Preconfigured: its own price."""
    currency: str = "EUR"
    category: ev.CategoryRef | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    stock: int = 0
    """Simple: the stock. Otherwise derived from the options (see configuration.py)."""
    deleted: bool = False
    kind: str = SIMPLE
    configuration: Configuration = field(default_factory=Configuration)
    base_product_id: UUID | None = None
    selection: tuple[ev.SelectedOption, ...] = ()

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
        kind: str = SIMPLE,
    ) -> Product:
        if kind not in (SIMPLE, CONFIGURABLE):
            raise DomainError("a preconfigured product is created from its configurable product")
        if kind == CONFIGURABLE and stock:
            raise DomainError(
                "a configurable product has no stock of its own: its options have stock"
            )
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
            kind=kind,
        )
        product._record(ev.ProductCreated(**product._snapshot()))
        return product

    @classmethod
    def create_preset(
        cls,
        *,
        base: Product,
        selection: Sequence[UUID],
        sku: str,
        name: str,
        description: str,
        price: Decimal,
        currency: str,
        category: Category,
        attributes: dict[str, Any],
    ) -> Product:
        """A preconfigured product: valid by construction, or InvalidConfiguration."""
        base.ensure_configurable()
        if currency != base.currency:
            raise DomainError(
                f"a preconfigured product is sold in its base product's currency ({base.currency})"
            )
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
            kind=PRECONFIGURED,
            base_product_id=base.id,
        )
        product._select(base, selection)
        product._record(ev.ProductCreated(**product._snapshot()))
        return product

    @property
    def option_ids(self) -> list[UUID]:
        """Preconfigured products: the options they include."""
        return [chosen.option_id for chosen in self.selection]

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
        if self.kind == PRECONFIGURED and "currency" in changed:
            raise DomainError("a preconfigured product is sold in its base product's currency")
        for key, value in changed.items():
            setattr(self, key, value)
        self.category = new_ref
        self._record(ev.ProductUpdated(**self._snapshot()))

    # ---------------------------------------------------------- configurable products

    def ensure_configurable(self) -> None:
        self._ensure_alive()
        if self.kind != CONFIGURABLE:
            raise DomainError(f"product {self.sku} is not configurable")

    def reconfigure(self, new: Configuration, presets: Sequence[Product] = ()) -> None:
        """Replace the parts, options and rules. Refused (409) when it would make one of
        the product's preconfigured products invalid: they stay valid by construction."""
        self.ensure_configurable()
        if new == self.configuration:
            return
        broken = []
        for preset in presets:
            violations = cfg.check(new, preset.option_ids, stock=False)
            if violations:
                reasons = "; ".join(v.message for v in violations)
                broken.append(f"{preset.sku} ({reasons})")
        if broken:
            raise Conflict(
                "this change would make preconfigured products invalid: "
                + ", ".join(broken)
                + ". Change or delete them first."
            )
        self.configuration = new
        self.stock = cfg.configurable_stock(new)
        self._record(ev.ProductUpdated(**self._snapshot()))

    def reserve_options(self, order_id: UUID, demand: Mapping[UUID, int]) -> None:
        """Take units of options for an order (the stock saga); never below zero."""
        self.ensure_configurable()
        stocks: dict[UUID, int] = {}
        for option_id, quantity in demand.items():
            option = self.configuration.options.get(option_id)
            if option is None:
                raise DomainError(f"option {option_id} is not an option of {self.sku}")
            if quantity <= 0 or quantity > option.stock:
                raise DomainError(f"only {option.stock} of {option.name} in stock")
            stocks[option_id] = option.stock - quantity
        self._move_option_stock(stocks)
        self._record(ev.OptionStockReserved(**self._option_stock_change(order_id, demand)))

    def release_options(self, order_id: UUID, reserved: Mapping[UUID, int]) -> list[UUID]:
        """Give back units reserved for a cancelled order; returns the options that no
        longer exist (their units cannot be put back)."""
        self._ensure_alive()
        present = {o: q for o, q in reserved.items() if o in self.configuration.options}
        if present:
            stocks = {o: self.configuration.options[o].stock + q for o, q in present.items()}
            self._move_option_stock(stocks)
            self._record(ev.OptionStockReleased(**self._option_stock_change(order_id, present)))
        return [option_id for option_id in reserved if option_id not in present]

    def _move_option_stock(self, stocks: Mapping[UUID, int]) -> None:
        changed = self.configuration
        for option_id, stock in stocks.items():
            changed = cfg.with_option_changed(changed, option_id, stock=stock)
        self.configuration = changed
        self.stock = cfg.configurable_stock(changed)

    def _option_stock_change(self, order_id: UUID, moved: Mapping[UUID, int]) -> dict[str, Any]:
        return {
            "product_id": self.id,
            "order_id": order_id,
            "options": [
                ev.OptionQuantity(option_id=o, quantity=q) for o, q in sorted(moved.items())
            ],
            "stocks": [
                ev.OptionStock(option_id=o.id, stock=o.stock)
                for o in self.configuration.options.values()
            ],
            "stock": self.stock,
        }

    # --------------------------------------------------------- preconfigured products

    def reselect(self, base: Product, selection: Sequence[UUID]) -> None:
        """Change which options a preconfigured product includes (still valid, or 422)."""
        self._ensure_alive()
        if self.kind != PRECONFIGURED:
            raise DomainError(f"product {self.sku} is not preconfigured: it has no fixed options")
        before = (self.selection, self.stock)
        self._select(base, selection)
        if (self.selection, self.stock) != before:
            self._record(ev.ProductUpdated(**self._snapshot()))

    def follow(self, base: Product) -> None:
        """A preconfigured product after its base product changed: its options' names (in
        its snapshot) and its stock (what its options allow) follow."""
        self._ensure_alive()
        names = self._selection_from(base, self.option_ids)
        # Options of a preconfigured product are never removed from its base (that edit is
        # refused); should one be missing, its last known name stays.
        names += tuple(s for s in self.selection if s.option_id not in base.configuration.options)
        stock = cfg.selection_stock(base.configuration, self.option_ids)
        if names != self.selection:
            self.selection, self.stock = names, stock
            self._record(ev.ProductUpdated(**self._snapshot()))
        elif stock != self.stock:
            delta, self.stock = stock - self.stock, stock
            self._record(
                ev.StockAdjusted(
                    product_id=self.id,
                    delta=delta,
                    stock=stock,
                    reason=f"the stock of its options in {base.sku} changed",
                )
            )

    def _select(self, base: Product, selection: Sequence[UUID]) -> None:
        base.ensure_configurable()
        if not selection:
            raise cfg.InvalidConfiguration(
                [cfg.Violation("required_part", "a preconfigured product includes options")]
            )
        violations = cfg.check(base.configuration, selection, stock=False)
        if violations:
            raise cfg.InvalidConfiguration(violations)
        self.selection = self._selection_from(base, selection)
        self.stock = cfg.selection_stock(base.configuration, self.option_ids)

    @staticmethod
    def _selection_from(base: Product, selection: Sequence[UUID]) -> tuple[ev.SelectedOption, ...]:
        """The selection in the base product's part order, named as the base names it."""
        chosen = set(selection)
        return tuple(
            ev.SelectedOption(option_id=o.id, part_id=part.id, part=part.name, name=o.name)
            for part in base.configuration.parts
            for o in part.options
            if o.id in chosen
        )

    # --------------------------------------------------------------- simple products

    def set_stock(self, stock: int, reason: str = "") -> None:
        self._ensure_alive()
        if self.kind != SIMPLE:
            raise DomainError(
                "the stock of a configurable or preconfigured product is its options' stock:"
                " change the options"
            )
        if stock < 0:
            raise DomainError("stock cannot be negative")
        if stock == self.stock:
            return
        delta = stock - self.stock
        self.stock = stock
        self._record(ev.StockAdjusted(product_id=self.id, delta=delta, stock=stock, reason=reason))

    def reserve(self, order_id: UUID, quantity: int) -> None:
        """Take `quantity` units for an order (the stock saga); never below zero."""
        self._ensure_alive()
        if self.kind != SIMPLE:
            raise DomainError(f"{self.sku} is reserved through its options")
        if quantity <= 0:
            raise DomainError("a reservation needs a positive quantity")
        if quantity > self.stock:
            raise DomainError(f"only {self.stock} of product {self.id} in stock")
        self.stock -= quantity
        self._record(
            ev.StockReserved(
                product_id=self.id, order_id=order_id, quantity=quantity, stock=self.stock
            )
        )

    def release(self, order_id: UUID, quantity: int) -> None:
        """Give back units reserved for an order that was cancelled."""
        self._ensure_alive()
        self.stock += quantity
        self._record(
            ev.StockReleased(
                product_id=self.id, order_id=order_id, quantity=quantity, stock=self.stock
            )
        )

    def delete(self) -> None:
        self._ensure_alive()
        self.deleted = True
        self._record(ev.ProductDeleted(product_id=self.id, sku=self.sku))

    def _ensure_alive(self) -> None:
        if self.deleted:
            raise NotFound(f"product {self.id} was deleted")

    def snapshotted(self, request_id: UUID, attempt: UUID) -> ev.ProductSnapshotted:
        """The product as it is now, for a snapshot the indexer asked for: a view, not a
        change, so nothing is recorded (`catalog.snapshots`)."""
        return ev.ProductSnapshotted(**self._snapshot(), request_id=request_id, attempt=attempt)

    def _snapshot(self) -> dict[str, Any]:
        snapshot: dict[str, Any] = {
            "product_id": self.id,
            "sku": self.sku,
            "name": self.name,
            "description": self.description,
            "price": self.price,
            "currency": self.currency,
            "category": self.category,
            "attributes": self.attributes,
            "stock": self.stock,
            "kind": self.kind,
        }
        if self.kind == CONFIGURABLE:
            snapshot |= configuration_snapshot(self.configuration)
        if self.kind == PRECONFIGURED:
            snapshot |= {"base_product_id": self.base_product_id, "selection": self.selection}
        return snapshot


def configuration_snapshot(configuration: Configuration) -> dict[str, Any]:
    """The configuration as the v3 product snapshot carries it."""
    return {
        "parts": [
            ev.ProductPart(
                part_id=part.id,
                name=part.name,
                description=part.description,
                required=part.required,
                options=[
                    ev.PartOption(
                        option_id=o.id,
                        name=o.name,
                        description=o.description,
                        price=o.price,
                        stock=o.stock,
                    )
                    for o in part.options
                ],
            )
            for part in configuration.parts
        ],
        "incompatibilities": [
            ev.IncompatibilityRule(rule_id=r.id, option_ids=[r.first, r.second], message=r.message)
            for r in configuration.incompatibilities
        ],
        "price_rules": [
            ev.PriceRule(
                rule_id=r.id, option_id=r.option_id, when_option_id=r.when_option_id, price=r.price
            )
            for r in configuration.price_rules
        ],
    }


@dataclass
class OrderReservation(Aggregate):
    """The catalog's answer to one order (subject = order id): allocated (every line
    reserved and priced) or rejected. The stock moves themselves are recorded on the
    products (their stock changed)."""

    @classmethod
    def rejected(cls, order_id: UUID, lines: list[ev.RejectedLine]) -> OrderReservation:
        reservation = cls(id=order_id, version=0)
        reservation._record(ev.StockRejected(order_id=order_id, lines=lines))
        return reservation

    @classmethod
    def allocated(
        cls, order_id: UUID, currency: str, lines: list[ev.AllocatedLine], total: Decimal
    ) -> OrderReservation:
        """Every line reserved; the priced lines are the order's prices."""
        reservation = cls(id=order_id, version=0)
        reservation._record(
            ev.StockAllocated(order_id=order_id, currency=currency, lines=lines, total=total)
        )
        return reservation
