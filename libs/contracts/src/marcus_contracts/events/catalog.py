"""Events the catalog service emits.

Product events carry the full product snapshot (event-carried state transfer), so a
consumer never has to call the catalog back.

`catalog.product.created|updated` v1 is the shape exported by the Django monolith this
platform replaces: prices had no currency (the shop sold in EUR only) and products had no
free-form attributes. v2 adds both; the upcasters in `marcus_contracts.upcasters` lift v1
data to v2. v3 adds configurable and preconfigured products (kind, parts with options,
incompatibility and price rules; a preconfigured product's base product and selection),
all with defaults that describe a simple product, so v2 data is v3 data as it is.
Consumers only ever see the latest version.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from marcus_contracts.base import Event

Money = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
AttributeValue = str | int | float | bool


class CategoryRef(BaseModel):
    """The category as it was when the product event was recorded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: UUID
    slug: str
    name: str


class CategoryCreatedV1(Event):
    event_type = "catalog.category.created"
    version = 1

    category_id: UUID
    slug: str
    name: str
    description: str = ""


class CategoryUpdatedV1(Event):
    event_type = "catalog.category.updated"
    version = 1

    category_id: UUID
    slug: str
    name: str
    description: str = ""


class _ProductSnapshotV2(Event):
    product_id: UUID
    sku: str
    name: str
    description: str = ""
    price: Money
    currency: Currency
    category: CategoryRef
    attributes: dict[str, AttributeValue] = Field(default_factory=dict)
    stock: int = Field(ge=0)


# ------------------------------------------------------------ configurable products
# A configurable product is sold as a configuration: one option per part (step), a
# required part must be filled, incompatible options never together. Its `price` is the
# base price; each chosen option adds its own, or a price rule's when the rule's other
# option is chosen too. Its `stock` is derived: how many configurations its options could
# still make (see the catalog's docs). A preconfigured product is a named, curated
# selection of a configurable product's options with its own price; its `stock` is what
# its options allow. Stock lives on the options.

ProductKind = Literal["simple", "configurable", "preconfigured"]


class PartOption(BaseModel):
    """One choice of a part, with its own price and stock."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    option_id: UUID
    name: str
    description: str = ""
    price: Money
    stock: int = Field(ge=0)


class ProductPart(BaseModel):
    """One step of a configurable product, in the order the customer goes through them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    part_id: UUID
    name: str
    description: str = ""
    required: bool
    options: list[PartOption] = Field(default_factory=list)


class IncompatibilityRule(BaseModel):
    """Two options that cannot be chosen together (symmetric), and what to tell the
    customer when they are."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule_id: UUID
    option_ids: list[UUID] = Field(min_length=2, max_length=2)
    message: str


class PriceRule(BaseModel):
    """`option_id` costs `price` (instead of its own) when `when_option_id` is chosen too.
    When several rules match one option, the lowest price wins (ties: the rule created
    first, i.e. the smallest rule id)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule_id: UUID
    option_id: UUID
    when_option_id: UUID
    price: Money


class SelectedOption(BaseModel):
    """An option a preconfigured product includes, named as it was when recorded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    option_id: UUID
    part_id: UUID
    part: str
    name: str


class _ProductSnapshotV3(_ProductSnapshotV2):
    kind: ProductKind = "simple"
    parts: list[ProductPart] = Field(default_factory=list)
    """Configurable products: the parts in order, each with its options."""
    incompatibilities: list[IncompatibilityRule] = Field(default_factory=list)
    price_rules: list[PriceRule] = Field(default_factory=list)
    base_product_id: UUID | None = None
    """Preconfigured products: the configurable product they are a selection of."""
    selection: list[SelectedOption] = Field(default_factory=list)
    """Preconfigured products: the options they include."""


class ProductCreatedV3(_ProductSnapshotV3):
    event_type = "catalog.product.created"
    version = 3


class ProductUpdatedV3(_ProductSnapshotV3):
    event_type = "catalog.product.updated"
    version = 3


class ProductDeletedV1(Event):
    event_type = "catalog.product.deleted"
    version = 1

    product_id: UUID
    sku: str


class StockAdjustedV1(Event):
    """Stock of a product set or changed by an operator (not by the order saga)."""

    event_type = "catalog.stock.adjusted"
    version = 1

    product_id: UUID
    delta: int
    stock: int = Field(ge=0)
    reason: str = ""


# --------------------------------------------------------------------- the stock saga
# `reserved` and `released` are PRODUCT events (subject = product id, sequence = the
# product's version): they change the product's stock, so projections rebuild from them
# and consumers keeping a product snapshot (the search index's in_stock) apply them with
# their per-product sequence guard. An order's reservation is all or nothing, so an order
# with n distinct products is answered by n `reserved` events committed together, or by
# one `rejected` event (subject = order id) naming the lines that could not be served.


class _StockMovementV1(Event):
    product_id: UUID
    order_id: UUID
    quantity: int = Field(gt=0)
    stock: int = Field(ge=0)


class StockReservedV1(_StockMovementV1):
    """`quantity` units of a product reserved for an order; `stock` is what remains."""

    event_type = "catalog.stock.reserved"
    version = 1


class StockReleasedV1(_StockMovementV1):
    """Units reserved for a cancelled order put back; `stock` is the new stock."""

    event_type = "catalog.stock.released"
    version = 1


# ------------------------------------------------ option stock and the order's answer
# Reserving a configuration takes one unit of every chosen option per unit ordered. The
# stock lives on the options of the configurable product, so `option_stock.reserved |
# released` are events of that product (subject = its id, its sequence), and carry the
# stock of EVERY option after the change (plus the product's derived `stock`), so a
# consumer keeping per-product state applies them with one high-water mark like a
# snapshot's stock. Preconfigured products whose availability changed with it get a
# `catalog.stock.adjusted` each (their stock is derived from their options).
#
# The catalog answers every order with one event of the order's reservation (subject =
# order id): `catalog.stock.allocated` (every line reserved; the lines priced by the
# catalog: the only pricing there is) or `catalog.stock.rejected` (nothing reserved).


class OptionQuantity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    option_id: UUID
    quantity: int = Field(gt=0)


class OptionStock(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    option_id: UUID
    stock: int = Field(ge=0)


class _OptionStockChangeV1(Event):
    product_id: UUID
    order_id: UUID
    options: list[OptionQuantity] = Field(min_length=1)
    """The options whose stock changed, and by how many units."""
    stocks: list[OptionStock]
    """Every option of the product with its stock after the change."""
    stock: int = Field(ge=0)
    """The product's derived stock after the change."""


class OptionStockReservedV1(_OptionStockChangeV1):
    """Units of a configurable product's options reserved for an order."""

    event_type = "catalog.option_stock.reserved"
    version = 1


class OptionStockReleasedV1(_OptionStockChangeV1):
    """Units reserved for a cancelled order put back on the options."""

    event_type = "catalog.option_stock.released"
    version = 1


class PricedOption(BaseModel):
    """A chosen option as the catalog priced it. `price` is what it adds to the line's
    unit price: its own price, or `price_rule_id`'s when a price rule applied; None for
    the options of a preconfigured product (included in that product's own price)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    option_id: UUID
    part_id: UUID
    part: str
    name: str
    list_price: Money
    price: Money | None = None
    price_rule_id: UUID | None = None


class AllocatedLine(BaseModel):
    """One order line, reserved and priced: unit_price = base_price + the options'
    prices; line_total = unit_price x quantity."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    line: int = Field(ge=0)
    """Position of the line in the order (0-based)."""
    product_id: UUID
    sku: str
    name: str
    kind: ProductKind = "simple"
    base_product_id: UUID | None = None
    quantity: int = Field(gt=0)
    base_price: Money
    options: list[PricedOption] = Field(default_factory=list)
    unit_price: Money
    line_total: Money


class StockAllocatedV1(Event):
    """Every line of the order is reserved (subject = order id); the prices are the
    catalog's, and the orders service records them."""

    event_type = "catalog.stock.allocated"
    version = 1

    order_id: UUID
    currency: Currency
    lines: list[AllocatedLine] = Field(min_length=1)
    total: Money


RejectionCode = Literal[
    "insufficient_stock", "unknown_product", "invalid_configuration", "currency_mismatch"
]


class RejectedLineV2(BaseModel):
    """Something the catalog could not serve, and why: a line (unknown product, wrong
    currency), a rule its configuration breaks (`message` is the rule's), or a product
    or option (`option_id`) with too little stock for everything the order asks of it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    product_id: UUID
    requested: int = Field(gt=0)
    available: int = Field(ge=0)
    reason: RejectionCode
    line: int | None = None
    """Position of the line in the order (None: the product's lines together)."""
    option_id: UUID | None = None
    message: str = ""


class StockRejectedV2(Event):
    """No stock was reserved for the order (subject = order id): one entry per problem
    found (every one, not the first)."""

    event_type = "catalog.stock.rejected"
    version = 2

    order_id: UUID
    lines: list[RejectedLineV2] = Field(min_length=1)


class ProductSnapshottedV1(_ProductSnapshotV3):
    """One product's current state in a snapshot the indexer asked for (subject = product
    id, sequence = the product's version: the sequence of its latest event).

    Not an event of the catalog's history: it is never stored in the event store and never
    published on `events.catalog`. It travels on the request's own snapshot stream
    (`StreamNames.snapshot("catalog", request_id)`), followed by one `catalog.snapshot.
    completed`. The fields are the v3 product snapshot with the current stock of the
    product and of each option, so a consumer folds it like a `catalog.product.updated`
    at that sequence."""

    event_type = "catalog.product.snapshotted"
    version = 1

    request_id: UUID
    """The `indexer.snapshot.requested` event this answers."""
    attempt: UUID
    """The catalog's attempt at the snapshot: a request redelivered to another replica may
    be answered twice on the same stream; each attempt is complete on its own and its
    marker names it."""


class SnapshotCompletedV1(Event):
    """The marker closing one attempt at a snapshot (subject = request id): every product
    of the attempt was written before it, and the state they describe includes every
    entry of `events.catalog` up to `position`; a consumer catches up after it."""

    event_type = "catalog.snapshot.completed"
    version = 1

    request_id: UUID
    attempt: UUID
    products: int = Field(ge=0)
    """How many `catalog.product.snapshotted` entries of this attempt precede it."""
    position: str = Field(pattern=r"^\d+-\d+$")
    """The `events.catalog` entry id the snapshot is consistent with (`0-0`: the stream
    was empty). Every entry up to it is reflected; later entries may be too (a consumer's
    per-product sequence guard skips what it already has)."""
    taken_at: datetime


ALL = (
    CategoryCreatedV1,
    CategoryUpdatedV1,
    ProductCreatedV3,
    ProductUpdatedV3,
    ProductDeletedV1,
    StockAdjustedV1,
    StockReservedV1,
    StockReleasedV1,
    StockRejectedV2,
    OptionStockReservedV1,
    OptionStockReleasedV1,
    StockAllocatedV1,
    ProductSnapshottedV1,
    SnapshotCompletedV1,
)

SNAPSHOT = (ProductSnapshottedV1, SnapshotCompletedV1)
"""Written to a request's snapshot stream (`StreamNames.snapshot`), never to
`events.catalog` nor the event store."""


# Unversioned names: the newest version of each event (see the package docstring).
RejectedLine = RejectedLineV2
CategoryCreated = CategoryCreatedV1
CategoryUpdated = CategoryUpdatedV1
ProductCreated = ProductCreatedV3
ProductUpdated = ProductUpdatedV3
ProductDeleted = ProductDeletedV1
StockAdjusted = StockAdjustedV1
StockReserved = StockReservedV1
StockReleased = StockReleasedV1
StockRejected = StockRejectedV2
OptionStockReserved = OptionStockReservedV1
OptionStockReleased = OptionStockReleasedV1
StockAllocated = StockAllocatedV1
ProductSnapshotted = ProductSnapshottedV1
SnapshotCompleted = SnapshotCompletedV1
