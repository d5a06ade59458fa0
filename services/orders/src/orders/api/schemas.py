"""Request and response bodies of the orders API (money is a decimal string)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

MAX_LINES = 100
MAX_QUANTITY = 1000


class LineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: UUID
    quantity: int = Field(ge=1, le=MAX_QUANTITY)


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr = Field(description="Where the order's e-mails go.")
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


class LineOut(BaseModel):
    product_id: UUID
    sku: str
    name: str
    unit_price: Decimal
    quantity: int
    line_total: Decimal


class ReasonOut(BaseModel):
    product_id: UUID
    reason: str
    requested: int
    available: int


class OrderOut(BaseModel):
    id: UUID
    status: Literal["pending", "confirmed", "rejected", "cancelled", "shipped"]
    email: str
    currency: str
    total: Decimal
    lines: list[LineOut]
    reasons: list[ReasonOut] = Field(
        default_factory=list, description="Why the catalog rejected the order."
    )
    version: int
    created_at: datetime
    updated_at: datetime


class OrderPage(BaseModel):
    items: list[OrderOut]
    next_cursor: str | None = None
