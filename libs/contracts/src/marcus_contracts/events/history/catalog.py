"""Older versions of catalog events (see `marcus_contracts.events.catalog`).

v1 products are the Django monolith's export (no currency, no attributes); v2 products
(currency and attributes) predate configurable products; v1 stock refusals had no
message.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from marcus_contracts.base import Event
from marcus_contracts.events.catalog import CategoryRef, Money, _ProductSnapshotV2


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


class ProductCreatedV2(_ProductSnapshotV2):
    event_type = "catalog.product.created"
    version = 2


class ProductUpdatedV2(_ProductSnapshotV2):
    event_type = "catalog.product.updated"
    version = 2


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
    ProductCreatedV1,
    ProductUpdatedV1,
    ProductCreatedV2,
    ProductUpdatedV2,
    StockRejectedV1,
)
