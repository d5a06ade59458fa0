"""Request and response bodies of the orders API (money is a decimal string).

Bodies are closed (`extra="forbid"`): a price, a total or any field this API does not
define is refused with 422, never read. Prices come from the catalog only.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StrictInt, field_validator

from marcus_contracts.events.orders import OrderStatus

MAX_LINES = 100
MAX_QUANTITY = 1000
MAX_OPTIONS = 100


class LineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: UUID
    quantity: StrictInt = Field(ge=1, le=MAX_QUANTITY)  # not "1" or true (issue 19)
    options: list[UUID] = Field(
        default_factory=list,
        max_length=MAX_OPTIONS,
        description="Configurable products: the options chosen (one per part). The catalog "
        "checks and prices the configuration when it reserves the order.",
    )


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr | None = Field(
        default=None,
        description="Where the order's e-mails go; default and normally the token's verified"
        " address (another one is refused unless the service allows it).",
    )
    lines: list[LineIn] = Field(min_length=1, max_length=MAX_LINES)

    @field_validator("lines")
    @classmethod
    def one_line_per_product(cls, lines: list[LineIn]) -> list[LineIn]:
        seen: set[UUID] = set()
        for line in lines:
            if line.product_id in seen:
                raise ValueError(f"product {line.product_id} is on more than one line")
            seen.add(line.product_id)
        return lines


class LineOptionOut(BaseModel):
    option_id: UUID
    part: str = Field(description="Empty until the catalog priced the line.")
    name: str
    price: Decimal | None = Field(
        description="What it adds to the unit price (null: not priced yet, or included in"
        " a preconfigured product's price)."
    )
    price_rule_id: UUID | None = None


class LineOut(BaseModel):
    product_id: UUID
    sku: str
    name: str
    kind: Literal["simple", "configurable", "preconfigured"]
    base_product_id: UUID | None = None
    options: list[LineOptionOut]
    unit_price: Decimal | None = Field(description="null until the catalog priced the line.")
    quantity: int
    line_total: Decimal | None


class ReasonOut(BaseModel):
    product_id: UUID
    reason: str
    requested: int
    available: int
    line: int | None = None
    option_id: UUID | None = None
    message: str = ""


class AddressOut(BaseModel):
    name: str
    lines: list[str]
    city: str
    postal_code: str
    country: str


class OrderOut(BaseModel):
    id: UUID
    status: OrderStatus
    email: str
    currency: str
    total: Decimal | None = Field(
        description="The catalog's total once confirmed; while pending an estimate, or null"
        " when a configured line is not priced yet."
    )
    lines: list[LineOut]
    reasons: list[ReasonOut] = Field(
        default_factory=list, description="Why the catalog rejected the order."
    )
    address: AddressOut | None = Field(
        default=None, description="Where it ships (orders checked out from a cart)."
    )
    cart_id: UUID | None = Field(default=None, description="The cart it was checked out from.")
    version: int
    created_at: datetime
    updated_at: datetime


class OrderPage(BaseModel):
    items: list[OrderOut]
    next_cursor: str | None = Field(
        default=None,
        description="Pass as `cursor` to get the next (older) page; null on the last page.",
    )
