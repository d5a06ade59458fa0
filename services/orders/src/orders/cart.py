"""The Cart aggregate: a customer's lines before checkout, and the events it records. No I/O.

One cart per customer for life: its id is derived from the customer's subject
(`cart_id_of`), so it needs no lookup and no creation step; a checkout empties it and the
next line fills it again. Every event carries the whole cart after the change.

Prices are the catalog's: the handlers price a line with the catalog's rules (from the
orders read model) and hand the cart the result (`Item`); the cart records the unit price
the customer saw when the line was added or its quantity last set. A line is one product
with one configuration: adding the same product with the same options again adds to its
quantity.

Repeating a change that is already true (clearing an empty cart, the same quantity, the
same reminder choice) records nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID, uuid5

from marcus_contracts import Event, new_event_id
from marcus_contracts.events import cart as ev
from marcus_contracts.events.orders import LineOption, ShippingAddress
from marcus_eventstore.aggregate import Aggregate, Conflict, DomainError, NotFound

CART_NAMESPACE = UUID("5b0c8f39-6c55-4f53-9d0e-2f1a4c7e8a10")
"""Fixed: changing it would give every customer a new, empty cart."""
MAX_LINES = 100
MAX_QUANTITY = 1000
"""Per line; the same limits as an order's."""


def cart_id_of(customer: str) -> UUID:
    """The customer's cart, for life."""
    return uuid5(CART_NAMESPACE, customer)


@dataclass(frozen=True)
class Item:
    """A product with its configuration, priced now by the catalog's rules."""

    product_id: UUID
    sku: str
    name: str
    kind: str
    unit_price: Decimal
    currency: str
    base_product_id: UUID | None = None
    options: tuple[LineOption, ...] = ()


def same_item(line: ev.CartLine, product_id: UUID, option_ids: Iterable[UUID]) -> bool:
    """Same product, same options (in any order): one line."""
    return line.product_id == product_id and sorted(o.option_id for o in line.options) == sorted(
        option_ids
    )


@dataclass
class Cart(Aggregate):
    customer: str = ""
    email: str | None = None
    lines: list[ev.CartLine] = field(default_factory=list)
    reminders: bool = True

    @classmethod
    def open(cls, customer: str, email: str | None = None) -> Cart:
        """The customer's cart before its first event (nothing recorded yet)."""
        return cls(id=cart_id_of(customer), version=0, customer=customer, email=email)

    def seen_with(self, email: str | None) -> None:
        """The owner's current verified address (from their token); the next event carries
        it, so a reminder goes where the customer reads mail now."""
        if email:
            self.email = email

    # ----------------------------------------------------------------- the customer

    def line(self, line_id: UUID) -> ev.CartLine:
        for line in self.lines:
            if line.line_id == line_id:
                return line
        raise NotFound(f"line {line_id} is not in your cart")

    def find(self, product_id: UUID, option_ids: Iterable[UUID]) -> ev.CartLine | None:
        wanted = list(option_ids)
        return next((line for line in self.lines if same_item(line, product_id, wanted)), None)

    @property
    def currency(self) -> str | None:
        return self.lines[0].currency if self.lines else None

    def add(self, item: Item, quantity: int) -> tuple[UUID, bool]:
        """Add `quantity` of `item`; returns the line and whether it merged into one the
        cart had (same product and options: its quantity grows)."""
        existing = self.find(item.product_id, (o.option_id for o in item.options))
        if existing is not None:
            self.set_quantity(existing.line_id, existing.quantity + quantity, item.unit_price)
            return existing.line_id, True
        if self.currency is not None and item.currency != self.currency:
            raise DomainError(
                f"your cart is in {self.currency}; {item.name} is sold in {item.currency}"
            )
        if len(self.lines) >= MAX_LINES:
            raise DomainError(f"a cart holds at most {MAX_LINES} lines")
        _check_quantity(quantity)
        line = ev.CartLine(
            line_id=new_event_id(),
            product_id=item.product_id,
            sku=item.sku,
            name=item.name,
            kind=item.kind,
            base_product_id=item.base_product_id,
            options=list(item.options),
            quantity=quantity,
            unit_price=item.unit_price,
            currency=item.currency,
        )
        self.lines.append(line)
        self._record(ev.CartItemAdded(**self.snapshot(), line_id=line.line_id))
        return line.line_id, False

    def set_quantity(self, line_id: UUID, quantity: int, unit_price: Decimal) -> None:
        """A new quantity at the current unit price (the price the customer now sees)."""
        line = self.line(line_id)
        _check_quantity(quantity)
        if line.quantity == quantity and line.unit_price == unit_price and not line.note:
            return
        changed = line.model_copy(
            update={"quantity": quantity, "unit_price": unit_price, "note": ""}
        )
        self.lines = [changed if other.line_id == line_id else other for other in self.lines]
        self._record(ev.CartItemQuantitySet(**self.snapshot(), line_id=line_id, quantity=quantity))

    def remove(self, line_id: UUID) -> None:
        self.line(line_id)
        self.lines = [line for line in self.lines if line.line_id != line_id]
        self._record(ev.CartItemRemoved(**self.snapshot(), line_id=line_id))

    def clear(self, reason: Literal["customer", "expired"] = "customer") -> bool:
        """Remove every line; False (nothing recorded) when the cart was empty."""
        if not self.lines:
            return False
        self.lines = []
        self._record(ev.CartCleared(**self.snapshot(), reason=reason))
        return True

    def set_reminders(self, enabled: bool) -> None:
        if self.reminders == enabled:
            return
        self.reminders = enabled
        self._record(ev.CartRemindersSet(**self.snapshot()))

    def check_out(
        self,
        order_id: UUID,
        *,
        address: ShippingAddress,
        total: Decimal,
        currency: str,
        lines: Sequence[ev.CartLine] | None = None,
    ) -> list[ev.CartLine]:
        """The cart becomes order `order_id` (placed in the same unit of work) and is
        empty after it. `lines`: the cart's lines at the prices the order is placed at
        (default: as they are). Returns what was checked out."""
        if not self.lines:
            raise Conflict("your cart is empty: there is nothing to check out")
        bought = list(self.lines if lines is None else lines)
        if [line.line_id for line in bought] != [line.line_id for line in self.lines]:
            raise DomainError("a checkout buys exactly the cart's lines")
        self.lines = []
        self._record(
            ev.CartCheckedOut(
                **self.snapshot(),
                order_id=order_id,
                checked_out=bought,
                total=total,
                currency=currency,
                address=address,
            )
        )
        return bought

    # ----------------------------------------------------- compensation and the job

    def restore(self, order_id: UUID, lines: Sequence[ev.CartLine]) -> list[UUID]:
        """The order checked out from this cart was rejected: its lines come back (each
        with its `note`). A line for an item the cart has again takes the restored
        quantity and note. Returns the cart's lines that were restored into."""
        if not lines:
            return []
        restored: list[UUID] = []
        for line in lines:
            existing = self.find(line.product_id, (o.option_id for o in line.options))
            if existing is None:
                self.lines.append(line)
                restored.append(line.line_id)
                continue
            merged = existing.model_copy(
                update={
                    "quantity": min(existing.quantity + line.quantity, MAX_QUANTITY),
                    "note": line.note,
                }
            )
            self.lines = [merged if o.line_id == existing.line_id else o for o in self.lines]
            restored.append(existing.line_id)
        line_ids = list(dict.fromkeys(restored))
        self._record(ev.CartItemsRestored(**self.snapshot(), order_id=order_id, line_ids=line_ids))
        return line_ids

    def abandon(self, idle_since: datetime, total: Decimal) -> None:
        """The cart has lines and nobody touched it since `idle_since`: one reminder for
        this idle period (the event's id is derived from it: `event_id`)."""
        if not self.lines:
            raise DomainError("an empty cart is not abandoned")
        if not self.reminders:
            raise DomainError("the customer turned abandoned-cart reminders off")
        assert self.currency is not None
        self._record(
            ev.CartAbandoned(
                **self.snapshot(), idle_since=idle_since, total=total, currency=self.currency
            )
        )

    def expire(self) -> bool:
        """Idle far too long: cleared (by the job, not the customer)."""
        return self.clear(reason="expired")

    def event_id(self, event: Event) -> UUID | None:
        """A reminder's id is the cart and its idle period: the store's unique id refuses
        a second reminder for one period, whoever asks."""
        if isinstance(event, ev.CartAbandoned):
            return abandoned_event_id(self.id, event.idle_since)
        return None

    def snapshot(self) -> dict[str, Any]:
        return {
            "cart_id": self.id,
            "customer": self.customer,
            "email": self.email,
            "lines": list(self.lines),
            "reminders": self.reminders,
        }


def abandoned_event_id(cart_id: UUID, idle_since: datetime) -> UUID:
    """uuid5 of the cart and the idle period's start (ISO 8601, in UTC: the same moment
    read by connections in different time zones gives the same id)."""
    moment = idle_since.astimezone(UTC) if idle_since.tzinfo is not None else idle_since
    return uuid5(cart_id, moment.isoformat())


def _check_quantity(quantity: int) -> None:
    if not 1 <= quantity <= MAX_QUANTITY:
        raise DomainError(f"a line's quantity is 1 to {MAX_QUANTITY}")
