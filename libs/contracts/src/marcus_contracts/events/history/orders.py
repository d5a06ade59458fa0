"""Older versions of order events (see `marcus_contracts.events.orders`): v1 orders had
simple lines, always priced, and no configurations.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from marcus_contracts.base import Event
from marcus_contracts.events.catalog import Currency, Money


class OrderLine(BaseModel):
    """One line, priced when the order was placed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    product_id: UUID
    sku: str
    name: str
    unit_price: Money
    quantity: int = Field(gt=0)
    line_total: Money


class _OrderSnapshotV1(Event):
    order_id: UUID
    customer: str = Field(min_length=1)
    """The customer's subject (`sub` of their token)."""
    email: str = Field(min_length=3)
    """Where the order's e-mails go."""
    currency: Currency
    lines: list[OrderLine] = Field(min_length=1)
    total: Money


class OrderPlacedV1(_OrderSnapshotV1):
    """The customer placed the order; stock is not reserved yet (the catalog answers)."""

    event_type = "orders.order.placed"
    version = 1


class OrderConfirmedV1(_OrderSnapshotV1):
    """The catalog reserved stock for every line."""

    event_type = "orders.order.confirmed"
    version = 1


class RejectionReason(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    product_id: UUID
    reason: Literal["insufficient_stock", "unknown_product"]
    requested: int = Field(gt=0)
    available: int = Field(ge=0)


class OrderRejectedV1(_OrderSnapshotV1):
    """The catalog could not reserve every line; nothing was reserved."""

    event_type = "orders.order.rejected"
    version = 1

    reasons: list[RejectionReason] = Field(default_factory=list)


class OrderCancelledV1(_OrderSnapshotV1):
    """Cancelled after confirmation; the catalog releases the reserved stock."""

    event_type = "orders.order.cancelled"
    version = 1

    cancelled_by: str = ""


class OrderShippedV1(_OrderSnapshotV1):
    event_type = "orders.order.shipped"
    version = 1

    shipped_by: str = ""


ALL = (
    OrderPlacedV1,
    OrderConfirmedV1,
    OrderRejectedV1,
    OrderCancelledV1,
    OrderShippedV1,
)
