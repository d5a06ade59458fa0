"""Events of the customer's cart, emitted by the orders service on `events.orders`
(subject = cart id, sequence = the cart's version).

A customer has one cart for life (its id is derived from the customer's subject); a
checkout empties it and the next line starts filling it again. Every cart event carries
the whole cart after the change (event-carried state transfer, like order events), plus
what changed: a consumer (the notifier's reminder, a projection rebuilt later) needs
nothing else.

Prices are the catalog's: `unit_price` is what the catalog's rules gave for the line (its
quote, for a configuration) when it was added or its quantity last set, i.e. the price
the customer saw. The cart's read side compares it with the current price and flags the
line when it moved.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from marcus_contracts.base import Event
from marcus_contracts.events.catalog import Currency, Money, ProductKind
from marcus_contracts.events.orders import LineOption, ShippingAddress


class CartLine(BaseModel):
    """One line of the cart: a product (with its configuration) and a quantity."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    line_id: UUID
    product_id: UUID
    sku: str
    name: str
    kind: ProductKind = "simple"
    base_product_id: UUID | None = None
    options: list[LineOption] = Field(default_factory=list)
    """A configurable product's chosen options, named and priced as quoted."""
    quantity: int = Field(gt=0)
    unit_price: Money
    """The catalog's unit price when the line was added or its quantity last set."""
    currency: Currency
    note: str = ""
    """Why the line is here when the customer did not just add it (a rejected order's
    reason, when its lines came back)."""


class _CartSnapshotV1(Event):
    cart_id: UUID
    customer: str = Field(min_length=1)
    """The owner's subject (`sub` of their token)."""
    email: str | None = None
    """The verified e-mail of the owner's token, when it had one (reminders go there)."""
    lines: list[CartLine] = Field(default_factory=list)
    """The whole cart after this event."""
    reminders: bool = True
    """False once the customer opted out of abandoned-cart reminders."""


class CartItemAddedV1(_CartSnapshotV1):
    """A line was added (`line_id` names it in `lines`)."""

    event_type = "orders.cart.item_added"
    version = 1

    line_id: UUID


class CartItemQuantitySetV1(_CartSnapshotV1):
    """A line's quantity changed (adding a product already in the cart adds to it)."""

    event_type = "orders.cart.item_quantity_set"
    version = 1

    line_id: UUID
    quantity: int = Field(gt=0)


class CartItemRemovedV1(_CartSnapshotV1):
    event_type = "orders.cart.item_removed"
    version = 1

    line_id: UUID


class CartClearedV1(_CartSnapshotV1):
    """Every line removed: by the customer, or because the cart stayed idle too long."""

    event_type = "orders.cart.cleared"
    version = 1

    reason: Literal["customer", "expired"] = "customer"


class CartCheckedOutV1(_CartSnapshotV1):
    """The cart became order `order_id` (placed in the same transaction); `lines` is
    empty after it, `checked_out` holds what was bought at the prices the customer saw."""

    event_type = "orders.cart.checked_out"
    version = 1

    order_id: UUID
    checked_out: list[CartLine] = Field(min_length=1)
    total: Money
    currency: Currency
    address: ShippingAddress


class CartItemsRestoredV1(_CartSnapshotV1):
    """The order checked out from this cart was rejected: its lines came back into the
    cart (each with a `note` saying why), so nothing the customer chose is lost."""

    event_type = "orders.cart.items_restored"
    version = 1

    order_id: UUID
    line_ids: list[UUID] = Field(min_length=1)


class CartRemindersSetV1(_CartSnapshotV1):
    """The customer turned abandoned-cart reminders on or off (`reminders`)."""

    event_type = "orders.cart.reminders_set"
    version = 1


class CartAbandonedV1(_CartSnapshotV1):
    """The cart has lines and nobody touched it since `idle_since`: the notifier sends
    one reminder to `email`. One event per idle period (its id is derived from the cart
    and `idle_since`), so a repeated job run never reminds twice."""

    event_type = "orders.cart.abandoned"
    version = 1

    idle_since: datetime
    total: Money
    currency: Currency


ALL = (
    CartItemAddedV1,
    CartItemQuantitySetV1,
    CartItemRemovedV1,
    CartClearedV1,
    CartCheckedOutV1,
    CartItemsRestoredV1,
    CartRemindersSetV1,
    CartAbandonedV1,
)


# Unversioned names: the newest version of each event (see the package docstring).
CartItemAdded = CartItemAddedV1
CartItemQuantitySet = CartItemQuantitySetV1
CartItemRemoved = CartItemRemovedV1
CartCleared = CartClearedV1
CartCheckedOut = CartCheckedOutV1
CartItemsRestored = CartItemsRestoredV1
CartRemindersSet = CartRemindersSetV1
CartAbandoned = CartAbandonedV1
