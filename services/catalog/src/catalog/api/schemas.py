"""Request and response bodies of the catalog API (validation lives here, at the edge)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    field_validator,
)

from marcus_contracts.events.catalog import SelectedOption
from marcus_pricing import Configuration

Sku = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=80)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=5000)]
Price = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2, allow_inf_nan=False)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
# Numbers and flags are strict: `"1"` or `true` is not a quantity (issue 19, finding 3).
Stock = Annotated[StrictInt, Field(ge=0, le=1_000_000_000)]
AttributeValue = (
    Annotated[str, StringConstraints(max_length=500)]
    | bool
    | int
    | Annotated[float, Field(allow_inf_nan=False)]
)
Attributes = Annotated[dict[str, AttributeValue], Field(max_length=50)]
Kind = Literal["simple", "configurable", "preconfigured"]
OptionIds = Annotated[list[UUID], Field(max_length=100)]
Message = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Position = Annotated[StrictInt, Field(ge=0, le=1000)]


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
    """`kind`: simple (default), configurable (`price` is the base price; parts and
    options are added afterwards; no `stock`: options have stock) or preconfigured
    (`base_product_id` and its `options`; its own `price`; no `stock`)."""

    sku: Sku
    name: Name
    description: Description = ""
    price: Price
    currency: Currency = "EUR"
    category_id: UUID
    attributes: Attributes = Field(default_factory=dict)
    stock: Stock = 0
    kind: Kind = "simple"
    base_product_id: UUID | None = None
    options: OptionIds | None = None

    _keys = field_validator("attributes")(_check_attribute_keys)

    def kind_errors(self) -> list[dict[str, Any]]:
        """Fields that do not fit the product's kind (field-level 422 detail)."""
        errors = []

        def wrong(field: str, msg: str) -> None:
            errors.append({"loc": ["body", field], "msg": msg, "type": "kind"})

        if self.kind != "preconfigured":
            for name in ("base_product_id", "options"):
                if getattr(self, name) is not None:
                    wrong(name, "only a preconfigured product has this")
        else:
            if self.base_product_id is None:
                wrong("base_product_id", "a preconfigured product needs its configurable product")
            if not self.options:
                wrong("options", "a preconfigured product includes options")
        if self.kind != "simple" and self.stock:
            wrong("stock", f"a {self.kind} product has no stock of its own: its options have")
        return errors


class ProductPatch(_Input):
    """Only the fields present change. `version` is an alternative to If-Match."""

    sku: Sku | None = None
    name: Name | None = None
    description: Description | None = None
    price: Price | None = None
    currency: Currency | None = None
    category_id: UUID | None = None
    attributes: Attributes | None = None
    options: OptionIds | None = Field(
        default=None, description="Preconfigured products: the options it includes."
    )
    version: StrictInt | None = Field(default=None, ge=1)

    _keys = field_validator("attributes")(_check_attribute_keys)


class StockIn(_Input):
    stock: Stock
    reason: Annotated[str, StringConstraints(max_length=200)] = ""


class CategoryRefOut(BaseModel):
    id: UUID
    slug: str
    name: str


class OptionOut(BaseModel):
    id: UUID
    part_id: UUID
    name: str
    description: str
    price: Decimal
    stock: int
    in_stock: bool


class PartOut(BaseModel):
    id: UUID
    name: str
    description: str
    required: bool
    position: int
    options: list[OptionOut]


class IncompatibilityOut(BaseModel):
    id: UUID
    option_ids: list[UUID]
    message: str


class PriceRuleOut(BaseModel):
    id: UUID
    option_id: UUID
    when_option_id: UUID
    price: Decimal


class SelectedOptionOut(BaseModel):
    option_id: UUID
    part_id: UUID
    part: str
    name: str


def part_out(configuration: Configuration, position: int) -> PartOut:
    part = configuration.parts[position]
    return PartOut(
        id=part.id,
        name=part.name,
        description=part.description,
        required=part.required,
        position=position,
        options=[
            OptionOut(
                id=o.id,
                part_id=o.part_id,
                name=o.name,
                description=o.description,
                price=o.price,
                stock=o.stock,
                in_stock=o.stock > 0,
            )
            for o in part.options
        ],
    )


class ProductOut(BaseModel):
    id: UUID
    sku: str
    name: str
    description: str
    price: Decimal = Field(description="Configurable products: the base price.")
    currency: str
    category: CategoryRefOut
    attributes: dict[str, Any]
    stock: int = Field(
        description="Configurable products: how many configurations the options could make"
        " (rules aside); preconfigured: how many its options allow."
    )
    in_stock: bool
    kind: Kind
    base_product_id: UUID | None = None
    version: int
    created_at: datetime
    updated_at: datetime
    parts: list[PartOut] | None = Field(
        default=None, description="Configurable products (in a product's own page)."
    )
    incompatibilities: list[IncompatibilityOut] | None = None
    price_rules: list[PriceRuleOut] | None = None
    options: list[SelectedOptionOut] | None = Field(
        default=None, description="Preconfigured products: the options included."
    )

    @classmethod
    def from_row(
        cls,
        row: Any,
        configuration: Configuration | None = None,
        selection: Sequence[SelectedOption] | None = None,
    ) -> ProductOut:
        out = cls(
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
            kind=row.kind,
            base_product_id=row.base_product_id,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
        if configuration is not None:
            out.parts = [part_out(configuration, i) for i in range(len(configuration.parts))]
            out.incompatibilities = [
                IncompatibilityOut(id=r.id, option_ids=[r.first, r.second], message=r.message)
                for r in configuration.incompatibilities
            ]
            out.price_rules = [
                PriceRuleOut(
                    id=r.id, option_id=r.option_id, when_option_id=r.when_option_id, price=r.price
                )
                for r in configuration.price_rules
            ]
        if selection is not None:
            out.options = [SelectedOptionOut(**chosen.model_dump()) for chosen in selection]
        return out


class ProductPage(BaseModel):
    items: list[ProductOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


# --- configurable products ------------------------------------------------------------


class PartIn(_Input):
    name: Name
    description: Description = ""
    required: StrictBool = True
    position: Position | None = Field(default=None, description="Where (0 = first); default last.")


class PartPatch(_Input):
    name: Name | None = None
    description: Description | None = None
    required: StrictBool | None = None
    position: Position | None = None


class OptionIn(_Input):
    name: Name
    description: Description = ""
    price: Price
    stock: Stock = 0


class OptionPatch(_Input):
    name: Name | None = None
    description: Description | None = None
    price: Price | None = None
    stock: Stock | None = None


class IncompatibilityIn(_Input):
    option_ids: list[UUID] = Field(min_length=2, max_length=2)
    message: Message = Field(description="What the customer is told when both are chosen.")


class IncompatibilityPatch(_Input):
    message: Message


class PriceRuleIn(_Input):
    option_id: UUID
    when_option_id: UUID
    price: Price = Field(description="`option_id`'s price when `when_option_id` is chosen too.")


class PriceRulePatch(_Input):
    price: Price


class QuoteIn(_Input):
    """A selection to check and price. Prices are the catalog's: a body with any other
    field (a price, a total) is refused."""

    options: OptionIds = Field(default_factory=list)
    quantity: StrictInt = Field(default=1, ge=1, le=1000)


class QuotedRuleOut(BaseModel):
    id: UUID
    when_option_id: UUID
    when_option: str
    price: Decimal


class QuotedOptionOut(BaseModel):
    option_id: UUID
    part_id: UUID
    part: str
    name: str
    list_price: Decimal
    price: Decimal | None = Field(
        description="What it adds to the unit price; null: included in a preconfigured"
        " product's price."
    )
    price_rule: QuotedRuleOut | None = Field(description="The rule that set `price`, if any.")


class QuoteOut(BaseModel):
    product_id: UUID
    sku: str
    name: str
    kind: Kind
    currency: str
    quantity: int
    base_price: Decimal
    options: list[QuotedOptionOut]
    unit_price: Decimal
    total: Decimal
