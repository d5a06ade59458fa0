"""Events the orders service emits (subject = order id, sequence = the order's version).

Every order event carries the whole order (event-carried state transfer): the notifier
writes its e-mails, and any later consumer builds its view, from the event alone. Prices
are the ones the order was placed at, taken from the orders service's own read model of
the catalog; money is a decimal string on the wire.

States: pending -> confirmed | rejected; confirmed -> cancelled | shipped;
shipped -> delivered.

v2 (every order event): a line may carry a configuration (the options chosen for a
configurable product) and names preconfigured products' base product. Prices are the
catalog's: a line the catalog has not priced yet (a configuration, when the order is
placed or rejected) has no `unit_price` / `line_total`, and the order no `total` until
every line is priced. `confirmed` and later always carry the catalog's prices (from its
`catalog.stock.allocated` answer). v1 data is v2 data as it is (simple lines, priced).

Later, with defaults and left out when empty (so a consumer that predates them reads
such events as before): an order placed by a cart checkout carries its `cart_id` and the
shipping `address`.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from marcus_contracts.base import Event
from marcus_contracts.events.catalog import Currency, Money, ProductKind, RejectionCode

# ------------------------------------------------------------------------------ v2


class LineOption(BaseModel):
    """An option chosen for a configured line. When the order is placed only the id is
    known; the catalog's answer names and prices it (`price`: what it adds to the unit
    price, with `price_rule_id` when a price rule set it; None for the options of a
    preconfigured product, which has its own price)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    option_id: UUID
    part: str = ""
    name: str = ""
    price: Money | None = None
    price_rule_id: UUID | None = None


class OrderLineV2(BaseModel):
    """One line. `quantity` is units (a configured line is `quantity` identical
    configurations). Prices are None until the catalog priced the line."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    product_id: UUID
    sku: str
    name: str
    quantity: int = Field(gt=0)
    kind: ProductKind = "simple"
    base_product_id: UUID | None = None
    """Preconfigured products: the configurable product they are a selection of."""
    options: list[LineOption] = Field(default_factory=list)
    """The configuration of a configurable product; the included options of a
    preconfigured one (once the catalog answered); empty for simple products."""
    unit_price: Money | None = None
    line_total: Money | None = None


class RejectionReasonV2(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    product_id: UUID
    reason: RejectionCode
    requested: int = Field(gt=0)
    available: int = Field(ge=0)
    line: int | None = None
    option_id: UUID | None = None
    message: str = ""


CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
"""ISO 3166-1 alpha-2 (the orders API checks that the code is assigned)."""
AddressText = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class ShippingAddress(BaseModel):
    """Where an order goes, as the customer gave it at checkout."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: AddressText
    lines: list[AddressText] = Field(min_length=1, max_length=3)
    """Street lines, first to last."""
    city: AddressText
    postal_code: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    country: CountryCode


def _absent(value: object) -> bool:
    return value is None


class _OrderSnapshotV2(Event):
    order_id: UUID
    customer: str = Field(min_length=1)
    email: str = Field(min_length=3)
    currency: Currency
    lines: list[OrderLineV2] = Field(min_length=1)
    total: Money | None = None
    """None while a line is not priced yet."""
    cart_id: UUID | None = Field(default=None, exclude_if=_absent)
    """The cart it was checked out from (None: placed from raw lines). Left out when None."""
    address: ShippingAddress | None = Field(default=None, exclude_if=_absent)
    """Where it ships (checkout requires one). Left out when None."""


class OrderPlacedV2(_OrderSnapshotV2):
    """The customer placed the order; the catalog reserves and prices it."""

    event_type = "orders.order.placed"
    version = 2


class OrderConfirmedV2(_OrderSnapshotV2):
    """The catalog reserved every line; lines and total are the catalog's prices."""

    event_type = "orders.order.confirmed"
    version = 2


class OrderRejectedV2(_OrderSnapshotV2):
    """The catalog could not reserve every line; nothing was reserved."""

    event_type = "orders.order.rejected"
    version = 2

    reasons: list[RejectionReasonV2] = Field(default_factory=list)


class OrderCancelledV2(_OrderSnapshotV2):
    """Cancelled after confirmation; the catalog releases the reserved stock."""

    event_type = "orders.order.cancelled"
    version = 2

    cancelled_by: str = ""


class OrderShippedV2(_OrderSnapshotV2):
    event_type = "orders.order.shipped"
    version = 2

    shipped_by: str = ""


class OrderDeliveredV1(_OrderSnapshotV2):
    """A shipped order reached the customer (recorded by an admin or a carrier hook)."""

    event_type = "orders.order.delivered"
    version = 1

    delivered_by: str = ""


OrderEvent = (
    OrderPlacedV2
    | OrderConfirmedV2
    | OrderRejectedV2
    | OrderCancelledV2
    | OrderShippedV2
    | OrderDeliveredV1
)
"""What a consumer receives for any order event (the registry upcasts v1 to v2)."""
OrderStatus = Literal["pending", "confirmed", "rejected", "cancelled", "shipped", "delivered"]

ALL = (
    OrderPlacedV2,
    OrderConfirmedV2,
    OrderRejectedV2,
    OrderCancelledV2,
    OrderShippedV2,
    OrderDeliveredV1,
)


# Unversioned names: the newest version of each event (see the package docstring).
OrderLine = OrderLineV2
RejectionReason = RejectionReasonV2
OrderPlaced = OrderPlacedV2
OrderConfirmed = OrderConfirmedV2
OrderRejected = OrderRejectedV2
OrderCancelled = OrderCancelledV2
OrderShipped = OrderShippedV2
OrderDelivered = OrderDeliveredV1
