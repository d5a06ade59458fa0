"""Request and response bodies of the cart API (money is a decimal string).

Requests are closed (`extra="forbid"`) and quantities strict integers (`"1"` and `true`
are refused): a price, a total or any field this API does not define is a 422, never read.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

import pycountry
from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    field_validator,
)

from marcus_contracts.events.orders import ShippingAddress
from orders.api.schemas import LineOptionOut
from orders.cart import MAX_QUANTITY

MAX_OPTIONS = 100

Quantity = Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class CartLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: UUID
    quantity: Quantity
    options: list[UUID] = Field(
        default_factory=list,
        max_length=MAX_OPTIONS,
        description="Configurable products: the options chosen (one per part). Checked and "
        "priced by the catalog's rules now; refused with 422 naming the rule.",
    )


class QuantityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quantity: Quantity


class RemindersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: StrictBool = Field(description="False: no abandoned-cart reminder e-mails.")


class AddressIn(BaseModel):
    """A shipping address; `country` is an assigned ISO 3166-1 alpha-2 code."""

    model_config = ConfigDict(extra="forbid")

    name: Text
    lines: list[Text] = Field(min_length=1, max_length=3, description="Street lines.")
    city: Text
    postal_code: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)
    ]
    country: str = Field(description="ISO 3166-1 alpha-2, e.g. `FR`.", examples=["FR"])

    @field_validator("country")
    @classmethod
    def assigned_code(cls, code: str) -> str:
        if len(code) != 2 or not code.isascii() or not code.isupper():
            raise ValueError("an ISO 3166-1 alpha-2 code in capitals, e.g. FR")
        if pycountry.countries.get(alpha_2=code) is None:
            raise ValueError(f"{code} is not an assigned ISO 3166-1 country code")
        return code

    def contract(self) -> ShippingAddress:
        return ShippingAddress.model_validate(self.model_dump())


class CheckoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: AddressIn
    expected_total: Decimal = Field(
        ge=0,
        max_digits=12,
        decimal_places=2,
        description="The total the customer saw (GET /cart); another current total is 409.",
    )
    email: EmailStr | None = Field(
        default=None,
        description="Where the order's e-mails go; default and normally the token's verified"
        " address (another one is refused unless the service allows it).",
    )


class CartLineOut(BaseModel):
    line_id: UUID
    product_id: UUID
    sku: str
    name: str
    kind: Literal["simple", "configurable", "preconfigured"]
    base_product_id: UUID | None = None
    options: list[LineOptionOut]
    quantity: int
    added_unit_price: Decimal = Field(
        description="The unit price when the line was added (or its quantity last set)."
    )
    unit_price: Decimal | None = Field(
        description="The catalog's unit price now; null when the line cannot be priced now."
    )
    line_total: Decimal | None
    available: bool = Field(description="False: it cannot be bought now (see `problems`).")
    problems: list[str] = Field(
        default_factory=list, description="Why not, in the catalog's words."
    )
    changed: list[Literal["price", "availability"]] = Field(
        default_factory=list, description="What moved since the line was added."
    )
    note: str = Field(default="", description="Why the line came back (a rejected order).")


class CartOut(BaseModel):
    id: UUID
    lines: list[CartLineOut]
    total: Decimal = Field(description="Of the lines that can be priced now.")
    currency: str | None = Field(description="null while the cart is empty.")
    reminders: bool
    version: int
