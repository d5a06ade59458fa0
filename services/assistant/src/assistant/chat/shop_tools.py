"""The tools that act as the customer: quote a configuration, read and change the cart,
read an order, and propose a checkout (never perform one: the customer confirms).

They call the shop's public API with the customer's own bearer token, the one on the
chat request (`ShopContext.token`); a chat without one may quote (the quote is public)
but every cart or order tool answers "sign in" instead of acting. A refusal of the API
(a broken configuration rule, a line that cannot be bought) comes back to the model in
the API's words so that it can fix the choice; an unreachable service or a timeout
(`ShopUnavailable`) is a tool error (`chat.tools.run_tool` tells the model, counts it).

Every amount a tool returns (quote, line and cart totals, a proposal's total) is
recorded in the reply's `Known`, so a grounded reply may state it; ids it returns (cart
lines, actions) may be repeated but are never cited.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant import handlers
from assistant.actions import ActionOut
from assistant.chat.facts import Known, money
from assistant.shop_api import Answer, ShopApi
from assistant.storage.uow import AssistantUnitOfWork
from marcus_contracts.events.orders import ShippingAddress
from marcus_eventstore.aggregate import DomainError

SIGN_IN = "sign in to change a cart: this chat has no signed-in customer"
Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


@dataclass(frozen=True)
class ShopContext:
    """Who the tools act for, and with what: captured when the turn starts."""

    api: ShopApi
    sessions: async_sessionmaker[AsyncSession]
    customer: str
    token: str | None
    """The customer's own bearer token (None: an anonymous chat, which may only quote)."""
    session_id: UUID
    action_ttl: timedelta


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class QuoteArgs(_Strict):
    product_id: Id = Field(description="The configurable product's id.")
    options: list[Id] = Field(
        default_factory=list, max_length=50, description="The chosen option ids, one per part."
    )
    quantity: int = Field(default=1, ge=1, le=1000, description="How many, a number.")


class ViewCartArgs(_Strict):
    pass


class AddToCartArgs(_Strict):
    product_id: Id = Field(description="The product's id, as a search returned it.")
    quantity: int = Field(default=1, ge=1, le=1000, description="How many, a number.")
    options: list[Id] = Field(
        default_factory=list,
        max_length=50,
        description="Configurable products: the chosen option ids (quote them first).",
    )


class UpdateLineArgs(_Strict):
    line_id: Id = Field(description="The cart line's id (view_cart shows it).")
    quantity: int = Field(ge=1, le=1000, description="The new quantity, a number.")


class RemoveLineArgs(_Strict):
    line_id: Id = Field(description="The cart line's id (view_cart shows it).")


class OrderStatusArgs(_Strict):
    order_id: Id | None = Field(default=None, description="An order id; omit for the latest.")
    limit: int = Field(default=3, ge=1, le=10, description="How many recent orders.")


class ProposeCheckoutArgs(_Strict):
    name: Text = Field(description="The recipient's name.")
    street: list[Text] = Field(min_length=1, max_length=3, description="Street lines.")
    city: Text
    postal_code: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)
    ]
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2, e.g. FR.")


class _StrictTool(StructuredTool):
    """LangChain skips validating the arguments of a tool that takes none (`view_cart`):
    validated here too, so an unknown argument is refused like everywhere else."""

    def _to_args_and_kwargs(
        self, tool_input: str | dict[str, Any], tool_call_id: str | None
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        schema = self.args_schema
        if (
            isinstance(tool_input, dict)
            and isinstance(schema, type)
            and issubclass(schema, BaseModel)
            and not schema.model_fields
        ):
            schema.model_validate(tool_input)
        return super()._to_args_and_kwargs(tool_input, tool_call_id)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _error(message: str) -> str:
    return _json({"error": message})


def _uuid(value: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        return None


def _note(known: Known, currency: Any, amounts: Iterable[Any]) -> None:
    """Amounts a reply may state from now on (in the tool's two-decimal format)."""
    if currency:
        known.currencies.add(str(currency))
    for amount in amounts:
        if amount is not None:
            known.order_amounts.add(Decimal(money(amount)))


def _cart(known: Known, body: dict[str, Any]) -> dict[str, Any]:
    lines = []
    for line in body.get("lines") or []:
        known.echoed_ids.add(str(line["line_id"]).lower())
        _note(known, body.get("currency"), [line.get("unit_price"), line.get("line_total")])
        lines.append(
            {
                "line_id": line["line_id"],
                "product_id": line["product_id"],
                "name": line["name"],
                "options": [option.get("name") for option in line.get("options") or []],
                "quantity": line["quantity"],
                "unit_price": None if line.get("unit_price") is None else money(line["unit_price"]),
                "line_total": None if line.get("line_total") is None else money(line["line_total"]),
                **({} if line.get("available", True) else {"problems": line.get("problems")}),
                **({"changed": line["changed"]} if line.get("changed") else {}),
            }
        )
    _note(known, body.get("currency"), [body.get("total")])
    total = body.get("total")
    return {
        "lines": lines,
        "total": None if total is None else money(total),
        "currency": body.get("currency"),
    }


def _refusal(answer: Answer, what: str) -> str:
    """A refusal the model can act on: the API's words and each broken rule."""
    body = answer.body if isinstance(answer.body, dict) else {}
    rules = [
        {k: v for k, v in error.items() if k in ("msg", "type", "rule_id", "option_ids")}
        for error in body.get("errors") or []
        if isinstance(error, dict)
    ]
    if answer.status == 404:
        return _error(f"{what}: not found ({answer.problem()})")
    return _json(
        {"refused": True, "status": answer.status, "why": answer.problem(), "rules": rules}
    )


def build_shop_tools(shop: ShopContext, known: Known, actions: list[ActionOut]) -> list[BaseTool]:
    """The acting tools, closed over this reply's customer, token and facts."""

    async def quote_configuration(
        product_id: str, options: list[str] | None = None, quantity: int = 1
    ) -> str:
        wanted = _uuid(product_id)
        chosen = [_uuid(o) for o in options or []]
        if wanted is None or None in chosen:
            return _error("product_id and options must be ids, as the catalog returned them")
        answer = await shop.api.quote(wanted, [o for o in chosen if o is not None], quantity)
        if not answer.ok:
            return _refusal(answer, "this product")
        body = answer.body
        _note(
            known,
            body.get("currency"),
            [body.get("base_price"), body.get("unit_price"), body.get("total")]
            + [option.get("price") for option in body.get("options") or []],
        )
        return _json(
            {
                "quote": {
                    "product_id": body["product_id"],
                    "name": body["name"],
                    "base_price": money(body["base_price"]),
                    "options": [
                        {
                            "option_id": option["option_id"],
                            "part": option["part"],
                            "name": option["name"],
                            "price": None if option["price"] is None else money(option["price"]),
                        }
                        for option in body.get("options") or []
                    ],
                    "quantity": body["quantity"],
                    "unit_price": money(body["unit_price"]),
                    "total": money(body["total"]),
                    "currency": body["currency"],
                }
            }
        )

    async def view_cart() -> str:
        if shop.token is None:
            return _error(SIGN_IN)
        answer = await shop.api.cart(shop.token)
        if not answer.ok:
            return _refusal(answer, "the cart")
        return _json({"cart": _cart(known, answer.body)})

    async def _changed(answer: Answer, what: str) -> str:
        if not answer.ok:
            return _refusal(answer, what)
        return _json({"done": True, "cart": _cart(known, answer.body)})

    async def add_to_cart(
        product_id: str, quantity: int = 1, options: list[str] | None = None
    ) -> str:
        if shop.token is None:
            return _error(SIGN_IN)
        wanted = _uuid(product_id)
        chosen = [_uuid(o) for o in options or []]
        if wanted is None or None in chosen:
            return _error("product_id and options must be ids, as the catalog returned them")
        picked = [o for o in chosen if o is not None]
        answer = await shop.api.add_line(shop.token, wanted, quantity, picked)
        return await _changed(answer, "this product")

    async def update_cart_line(line_id: str, quantity: int) -> str:
        if shop.token is None:
            return _error(SIGN_IN)
        line = _uuid(line_id)
        if line is None:
            return _error("line_id must be a cart line's id, as view_cart returned it")
        return await _changed(await shop.api.set_quantity(shop.token, line, quantity), "this line")

    async def remove_cart_line(line_id: str) -> str:
        if shop.token is None:
            return _error(SIGN_IN)
        line = _uuid(line_id)
        if line is None:
            return _error("line_id must be a cart line's id, as view_cart returned it")
        return await _changed(await shop.api.remove_line(shop.token, line), "this line")

    async def order_status(order_id: str | None = None, limit: int = 3) -> str:
        if shop.token is None:
            return _error("sign in to see your orders: this chat has no signed-in customer")
        if order_id is None:
            answer = await shop.api.orders(shop.token, limit)
            if not answer.ok:
                return _refusal(answer, "your orders")
            orders = [_order(known, o) for o in answer.body.get("items") or []]
            return _json({"orders": orders})
        wanted = _uuid(order_id)
        if wanted is None:
            return _json({"orders": [], "note": "that is not an order id"})
        answer = await shop.api.order(shop.token, wanted)
        if answer.status == 404:
            return _json({"orders": [], "note": "no order with this id among your orders"})
        if not answer.ok:
            return _refusal(answer, "this order")
        return _json({"orders": [_order(known, answer.body)]})

    async def propose_checkout(
        name: str, street: list[str], city: str, postal_code: str, country: str
    ) -> str:
        if shop.token is None:
            return _error(SIGN_IN)
        try:
            address = ShippingAddress(
                name=name, lines=street, city=city, postal_code=postal_code, country=country
            )
        except ValidationError as exc:
            return _error(f"the address is not valid: {exc.errors()[0]['msg']}")
        answer = await shop.api.cart(shop.token)
        if not answer.ok:
            return _refusal(answer, "the cart")
        try:
            command = handlers.ProposeCheckout(
                session_id=shop.session_id,
                customer=shop.customer,
                cart=answer.body,
                address=address,
                now=datetime.now(UTC),
                ttl=shop.action_ttl,
            )
            action = await handlers.propose_checkout(command, AssistantUnitOfWork(shop.sessions))
        except DomainError as exc:
            return _error(str(exc))
        actions.append(action)
        known.echoed_ids.add(str(action.id).lower())
        _note(known, action.currency, [action.total])
        _note(
            known,
            action.currency,
            [x for line in action.lines for x in (line.unit_price, line.line_total)],
        )
        return _json(
            {
                "proposed": {
                    "action_id": str(action.id),
                    "lines": [
                        {
                            "name": line.name,
                            "quantity": line.quantity,
                            "line_total": money(line.line_total),
                        }
                        for line in action.lines
                    ],
                    "total": money(action.total),
                    "currency": action.currency,
                    "expires_at": action.expires_at.isoformat(),
                },
                "note": "Nothing is bought yet: the customer confirms this proposal with the "
                "button shown under your reply. Tell them the total and the address.",
            }
        )

    specs: list[tuple[str, str, type[_Strict], Callable[..., Awaitable[str]]]] = [
        (
            "quote_configuration",
            "Check and price a configurable product with chosen options (one per part). "
            "A refusal names the rule the choice breaks: change the options and quote again.",
            QuoteArgs,
            quote_configuration,
        ),
        (
            "view_cart",
            "The customer's cart: lines (with line ids), total.",
            ViewCartArgs,
            view_cart,
        ),
        (
            "add_to_cart",
            "Add a product (with its options, for a configurable one) to the customer's cart.",
            AddToCartArgs,
            add_to_cart,
        ),
        (
            "update_cart_line",
            "Set the quantity of a line of the customer's cart.",
            UpdateLineArgs,
            update_cart_line,
        ),
        (
            "remove_cart_line",
            "Remove a line from the customer's cart.",
            RemoveLineArgs,
            remove_cart_line,
        ),
        (
            "order_status",
            "The customer's orders (newest first) or one order by id, with status and total.",
            OrderStatusArgs,
            order_status,
        ),
        (
            "propose_checkout",
            "Propose checking out the cart as it is now to this address. It buys nothing: "
            "the customer confirms the proposal themselves.",
            ProposeCheckoutArgs,
            propose_checkout,
        ),
    ]
    return [
        _StrictTool.from_function(
            coroutine=function,
            name=name,
            description=description,
            args_schema=schema,
        )
        for name, description, schema, function in specs
    ]


def _order(known: Known, body: dict[str, Any]) -> dict[str, Any]:
    order = {
        "order_id": str(body["id"]),
        "status": body["status"],
        "total": None if body.get("total") is None else money(body["total"]),
        "currency": body.get("currency"),
        "placed_at": body.get("created_at"),
        "lines": [
            {
                "product_id": str(line.get("product_id")),
                "name": line.get("name"),
                "quantity": line.get("quantity"),
                "unit_price": None if line.get("unit_price") is None else money(line["unit_price"]),
            }
            for line in body.get("lines") or []
        ],
    }
    known.add_order(order)
    return order
