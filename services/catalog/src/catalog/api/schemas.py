"""Request and response bodies of the catalog API (validation lives here, at the edge)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Sku = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=80)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=5000)]
Price = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2, allow_inf_nan=False)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Stock = Annotated[int, Field(ge=0, le=1_000_000_000)]
AttributeValue = (
    Annotated[str, StringConstraints(max_length=500)]
    | bool
    | int
    | Annotated[float, Field(allow_inf_nan=False)]
)
Attributes = Annotated[dict[str, AttributeValue], Field(max_length=50)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_attribute_keys(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return value
    for key in value:
        if not 1 <= len(key) <= 64:
            raise ValueError("attribute names must be 1 to 64 characters")
    return value


class CategoryIn(_Input):
    slug: Slug
    name: Name
    description: Description = ""


class CategoryPatch(_Input):
    slug: Slug | None = None
    name: Name | None = None
    description: Description | None = None


class CategoryOut(BaseModel):
    id: UUID
    slug: str
    name: str
    description: str
    version: int


class CategoryList(BaseModel):
    items: list[CategoryOut]


class ProductIn(_Input):
    sku: Sku
    name: Name
    description: Description = ""
    price: Price
    currency: Currency = "EUR"
    category_id: UUID
    attributes: Attributes = Field(default_factory=dict)
    stock: Stock = 0

    _keys = field_validator("attributes")(_check_attribute_keys)


class ProductPatch(_Input):
    """Only the fields present change. `version` is an alternative to If-Match."""

    sku: Sku | None = None
    name: Name | None = None
    description: Description | None = None
    price: Price | None = None
    currency: Currency | None = None
    category_id: UUID | None = None
    attributes: Attributes | None = None
    version: int | None = Field(default=None, ge=1)

    _keys = field_validator("attributes")(_check_attribute_keys)


class StockIn(_Input):
    stock: Stock
    reason: Annotated[str, StringConstraints(max_length=200)] = ""


class CategoryRefOut(BaseModel):
    id: UUID
    slug: str
    name: str


class ProductOut(BaseModel):
    id: UUID
    sku: str
    name: str
    description: str
    price: Decimal
    currency: str
    category: CategoryRefOut
    attributes: dict[str, Any]
    stock: int
    in_stock: bool
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> ProductOut:
        return cls(
            id=row.id,
            sku=row.sku,
            name=row.name,
            description=row.description,
            price=row.price,
            currency=row.currency,
            category=CategoryRefOut(
                id=row.category_id, slug=row.category_slug, name=row.category_name
            ),
            attributes=row.attributes,
            stock=row.stock,
            in_stock=row.stock > 0,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class ProductPage(BaseModel):
    items: list[ProductOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )
