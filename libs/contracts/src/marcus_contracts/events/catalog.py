"""Events the catalog service emits.

Product events carry the full product snapshot (event-carried state transfer), so a
consumer never has to call the catalog back.

`catalog.product.created|updated` v1 is the shape exported by the Django monolith this
platform replaces: prices had no currency (the shop sold in EUR only) and products had no
free-form attributes. v2 adds both; the upcasters in `marcus_contracts.upcasters` lift v1
data to v2, so consumers only ever see v2.
"""

from __future__ import annotations

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


class _ProductSnapshotV1(Event):
    product_id: UUID
    sku: str
    name: str
    description: str = ""
    price: Money
    category: CategoryRef
    stock: int = Field(ge=0)


class ProductCreatedV1(_ProductSnapshotV1):
    event_type = "catalog.product.created"
    version = 1


class ProductUpdatedV1(_ProductSnapshotV1):
    event_type = "catalog.product.updated"
    version = 1


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


class ProductCreatedV2(_ProductSnapshotV2):
    event_type = "catalog.product.created"
    version = 2


class ProductUpdatedV2(_ProductSnapshotV2):
    event_type = "catalog.product.updated"
    version = 2


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


class StockReservedV1(Event):
    """`quantity` units of a product reserved for an order; `stock` is what remains."""

    event_type = "catalog.stock.reserved"
    version = 1

    product_id: UUID
    order_id: UUID
    quantity: int = Field(gt=0)
    stock: int = Field(ge=0)


class StockReleasedV1(Event):
    """Units reserved for a cancelled order put back; `stock` is the new stock."""

    event_type = "catalog.stock.released"
    version = 1

    product_id: UUID
    order_id: UUID
    quantity: int = Field(gt=0)
    stock: int = Field(ge=0)


class RejectedLine(BaseModel):
    """An order line the catalog could not serve, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    product_id: UUID
    requested: int = Field(gt=0)
    available: int = Field(ge=0)
    reason: Literal["insufficient_stock", "unknown_product"]


class StockRejectedV1(Event):
    """No stock was reserved for the order (subject = order id): `lines` lists the lines
    that failed; the others would have been available."""

    event_type = "catalog.stock.rejected"
    version = 1

    order_id: UUID
    lines: list[RejectedLine] = Field(min_length=1)


ALL = (
    CategoryCreatedV1,
    CategoryUpdatedV1,
    ProductCreatedV1,
    ProductUpdatedV1,
    ProductCreatedV2,
    ProductUpdatedV2,
    ProductDeletedV1,
    StockAdjustedV1,
    StockReservedV1,
    StockReleasedV1,
    StockRejectedV1,
)
