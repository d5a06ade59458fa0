"""The tools the model may call, built per reply and bound to the caller server-side.

- `search_products`: semantic search of the indexer's active collection, with filters;
- `get_product`: one product's details, with the catalog's description (its own text,
  from the catalog's public API; the index's lower-cased copy only when the catalog
  cannot be asked), marked as untrusted data;
- `my_orders`: the caller's own orders (read-only);
- the tools that act as the customer (quote, cart, order status, propose a checkout):
  `chat.shop_tools`, with the customer's own token.

`my_orders` takes no customer argument: the customer is the verified token's subject,
captured when the tools are built, so no text in the conversation (a user's, or a
product description's) can point it at another customer. Every args schema forbids
unknown arguments, and a call of a tool not offered is refused, not guessed at.

Each product a tool returns is recorded in the reply's `Evidence`: a reply may cite
only those (with the index's name and price, never the model's wording).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.actions import ActionOut
from assistant.chat.facts import Known, money
from assistant.chat.shop_tools import ShopContext, build_shop_tools
from assistant.search import CHAT_MODE, Filters, Hit, IndexUnavailable, SearchService
from assistant.shop_api import ShopUnavailable
from assistant.storage import categories as categories_store
from assistant.storage import orders as orders_store
from marcus_contracts.events.assistant import CitedProduct

log = logging.getLogger("assistant.chat")

DESCRIPTION_CHARS = 1500
CATEGORY_PATTERN = r"^[a-z0-9][a-z0-9-]{0,79}$"


@dataclass
class Evidence:
    """What the tools returned during one reply: the products a reply may cite, the
    orders and amounts it may state (`Known`), and the offered tools the model called."""

    known: Known = field(default_factory=Known)
    tools_called: list[str] = field(default_factory=list)
    actions: list[ActionOut] = field(default_factory=list)
    """Actions `propose_checkout` created in this reply (the reply carries them)."""

    @property
    def products(self) -> dict[str, CitedProduct]:
        return self.known.products

    def saw(self, hit: Hit) -> None:
        self.known.add_product(
            CitedProduct(
                product_id=UUID(hit.product_id),
                name=hit.name,
                price=Decimal(money(hit.price)),
                currency=hit.currency,
            )
        )


@dataclass(frozen=True)
class ToolContext:
    customer: str
    """The verified token's subject: the only customer whose orders a tool returns."""
    search: SearchService
    sessions: async_sessionmaker[AsyncSession]
    search_k: int
    shop: ShopContext | None = None
    """The acting tools' context (None: the shop's API is not configured)."""


class _Args(BaseModel):
    """Strict: unknown arguments are refused and a number must be a JSON number (the
    schema the model is shown says so: `additionalProperties: false`, `type: number`)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class SearchProductsArgs(_Args):
    query: Annotated[str, StringConstraints(min_length=1, max_length=300)] = Field(
        description="What the customer is looking for, in their words."
    )
    category: Annotated[str, StringConstraints(pattern=CATEGORY_PATTERN)] | None = Field(
        default=None, description="Category slug, e.g. 'coffee'."
    )
    max_price: float | None = Field(
        default=None, ge=0, le=1e10, description="Highest price, a number (e.g. 150 or 99.5)."
    )
    in_stock: bool | None = Field(default=None, description="Only products in stock.")


class GetProductArgs(_Args):
    product_id: str = Field(
        max_length=100, description="The product's id, as a search returned it."
    )


class MyOrdersArgs(_Args):
    order_id: str | None = Field(
        default=None,
        max_length=100,
        description="One of the customer's order ids; omit for the latest.",
    )
    limit: int = Field(default=3, ge=1, le=10, description="How many recent orders.")


def _product(hit: Hit) -> dict[str, Any]:
    return {
        "product_id": hit.product_id,
        "name": hit.name,
        "price": money(hit.price),
        "currency": hit.currency,
        "category": hit.category,
        "in_stock": hit.in_stock,
    }


def _order(order: orders_store.OrderSummary) -> dict[str, Any]:
    return {
        "order_id": str(order.order_id),
        "status": order.status,
        "total": None if order.total is None else money(order.total),
        "currency": order.currency,
        "placed_at": order.placed_at.isoformat(),
        "updated_at": order.updated_at.isoformat(),
        "lines": [
            {
                "product_id": line["product_id"],
                "name": line["name"],
                "quantity": line["quantity"],
                "unit_price": (
                    None if line.get("unit_price") is None else money(line["unit_price"])
                ),
                **(
                    {"options": [o.get("name") for o in line["options"]]}
                    if line.get("options")
                    else {}
                ),
            }
            for line in order.lines
        ],
        **({"rejection_reasons": order.reasons} if order.reasons else {}),
    }


def build_tools(context: ToolContext, evidence: Evidence) -> list[BaseTool]:
    """The three tools, closed over this reply's caller and evidence."""

    async def search_products(
        query: str,
        category: str | None = None,
        max_price: float | None = None,
        in_stock: bool | None = None,
    ) -> str:
        limit = None if max_price is None else Decimal(str(max_price))
        explicit = Filters(category=category, max_price=limit, in_stock=in_stock)
        parsed = await categories_store.parse_query(context.sessions, query)
        results = await context.search.search_mode(
            parsed.text, context.search_k, Filters.of(parsed, explicit), CHAT_MODE
        )
        for hit in results.hits:
            evidence.saw(hit)
        return _json({"products": [_product(hit) for hit in results.hits]})

    async def get_product(product_id: str) -> str:
        wanted = product_id.strip().lower()
        found = (await context.search.products([wanted])).products.get(wanted)
        if found is None:
            return _json({"error": f"no product with id {product_id!r} in the catalog"})
        evidence.saw(found.hit)
        description = await _catalog_description(context.shop, wanted)
        if description is None:
            description = found.text
        return _json(
            {
                "product": _product(found.hit)
                | {"description (untrusted catalog text)": description[:DESCRIPTION_CHARS]}
            }
        )

    async def my_orders(order_id: str | None = None, limit: int = 3) -> str:
        async with context.sessions() as db:
            if order_id is None:
                orders = await orders_store.orders_of(db, context.customer, limit)
                return _seen({"orders": [_order(o) for o in orders]})
            try:
                wanted = UUID(order_id.strip())
            except ValueError:
                return _json({"orders": [], "note": "that is not an order id"})
            order = await orders_store.order_of(db, context.customer, wanted)
        if order is None:
            return _json({"orders": [], "note": "no order with this id among your orders"})
        return _seen({"orders": [_order(order)]})

    def _seen(result: dict[str, Any]) -> str:
        for order in result["orders"]:
            evidence.known.add_order(order)
        return _json(result)

    specs: list[tuple[str, str, type[_Args], Callable[..., Awaitable[str]]]] = [
        (
            "search_products",
            "Search the shop's catalog by meaning. Returns products with id, name, price, "
            "currency, category and stock. Use it before naming any product.",
            SearchProductsArgs,
            search_products,
        ),
        (
            "get_product",
            "Details of one product by id (from a search result), including its description.",
            GetProductArgs,
            get_product,
        ),
        (
            "my_orders",
            "The signed-in customer's own orders, newest first, with status, lines and "
            "totals; or one of them by order id. It can only ever see this customer's orders.",
            MyOrdersArgs,
            my_orders,
        ),
    ]
    looking: list[BaseTool] = [
        StructuredTool.from_function(
            coroutine=function, name=name, description=description, args_schema=schema
        )
        for name, description, schema, function in specs
    ]
    if context.shop is None:
        return looking
    return looking + build_shop_tools(context.shop, evidence.known, evidence.actions)


async def _catalog_description(shop: ShopContext | None, product_id: str) -> str | None:
    """The catalog's own description (as written, not the index's lower-cased copy);
    None when the catalog cannot be asked (no shop API, down, or no such product)."""
    if shop is None:
        return None
    try:
        answer = await shop.api.call("catalog", "GET", f"/api/v1/products/{product_id}")
    except ShopUnavailable as exc:
        log.warning("catalog unavailable for a product description: %s", exc)
        return None
    if not answer.ok or not isinstance(answer.body, dict):
        return None
    description = answer.body.get("description")
    return description if isinstance(description, str) else None


def advertised(tools: Sequence[BaseTool]) -> list[dict[str, Any]]:
    """The tools in OpenAI's format, each with the JSON Schema its arguments are checked
    against (LangChain's conversion would drop `additionalProperties: false`)."""
    return [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description,
                "parameters": _untitled(_args_model(tool).model_json_schema()),
            },
        }
        for tool in tools
    ]


def _args_model(tool: BaseTool) -> type[BaseModel]:
    schema = tool.args_schema
    assert isinstance(schema, type) and issubclass(schema, BaseModel)
    return schema


def _untitled(schema: Any) -> Any:
    """The schema without pydantic's `title` keys (noise in every request)."""
    if isinstance(schema, dict):
        return {k: _untitled(v) for k, v in schema.items() if k != "title"}
    if isinstance(schema, list):
        return [_untitled(v) for v in schema]
    return schema


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


async def run_tool(tools: dict[str, BaseTool], name: str, args: dict[str, Any]) -> tuple[str, str]:
    """(tool output for the model, outcome for metrics). Never raises: a failure is told
    to the model as the tool's answer, so it can say so instead of the reply failing."""
    tool = tools.get(name)
    if tool is None:
        offered = ", ".join(sorted(tools))
        return _json({"error": f"there is no tool named {name!r}; the tools are: {offered}"}), (
            "refused"
        )
    try:
        output = await tool.ainvoke(args)
    except IndexUnavailable as exc:
        return _json({"error": f"the catalog search is unavailable right now: {exc}"}), "error"
    except ValidationError as exc:  # the model's arguments: it may correct them
        return _json({"error": f"invalid arguments for {name}: {_fields(exc)}"}), "error"
    except Exception as exc:  # a dependency down: the model is told, without details
        log.warning("tool %s failed: %r", name, exc)
        return _json({"error": f"{name} is unavailable right now"}), "error"
    return str(output), "ok"


def _fields(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors()
    )
