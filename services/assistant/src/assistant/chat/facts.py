"""What the tools returned during a conversation: the facts a reply may state.

A reply may name a product, cite its id and state a price only as a tool returned them
(`chat.grounding` checks the text against these facts). Prices have one format
everywhere, the catalog's: two decimals (`money`).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

from marcus_contracts.events.assistant import CitedProduct

CENT = Decimal("0.01")


def money(value: Decimal | str | float | int) -> str:
    """A price as the catalog writes it: two decimals ("12.5" -> "12.50")."""
    return str(Decimal(str(value)).quantize(CENT))


def normal_name(name: str) -> str:
    """A name compared case-, space- and dash-insensitively (unicode dashes are hyphens)."""
    unified = re.sub(r"[\u2010-\u2015\u2212]", "-", name.casefold())
    unified = re.sub(r"[\u2018\u2019]", "'", unified)
    return " ".join(unified.split())


@dataclass
class Known:
    """The facts of one reply: products (this turn's tool results and the products
    earlier replies cited), order ids and amounts `my_orders` returned, and ids the
    customer wrote (a reply may repeat those, but they are never cited)."""

    products: dict[str, CitedProduct] = field(default_factory=dict)
    order_ids: set[str] = field(default_factory=set)
    order_amounts: set[Decimal] = field(default_factory=set)
    echoed_ids: set[str] = field(default_factory=set)
    currencies: set[str] = field(default_factory=set)
    order_totals: dict[str, tuple[Decimal, str]] = field(default_factory=dict)
    echoed_amounts: set[Decimal] = field(default_factory=set)
    """Amounts the customer wrote ("under 50 EUR"): a sentence naming no product may
    repeat them."""

    def add_product(self, product: CitedProduct) -> None:
        self.products[str(product.product_id)] = product
        self.currencies.add(product.currency)

    def add_order(self, order: Mapping[str, Any]) -> None:
        """An order as `my_orders` returned it: its id, total, unit and line prices, and
        its products (citable at the price they were ordered at, unless a search or
        lookup returned them too)."""
        order_id = str(order["order_id"]).lower()
        currency = str(order.get("currency") or "")
        self.order_ids.add(order_id)
        if currency:
            self.currencies.add(currency)
        if order.get("total") is not None:
            total = Decimal(str(order["total"]))
            self.order_amounts.add(total)
            self.order_totals[order_id] = (total, currency)
        for line in order.get("lines", []):
            if line.get("unit_price") is None:
                continue
            unit = Decimal(str(line["unit_price"]))
            self.order_amounts.add(unit)
            self.order_amounts.add(unit * int(line.get("quantity") or 1))
            pid = str(line.get("product_id") or "").lower()
            if pid and pid not in self.products and currency and line.get("name"):
                with contextlib.suppress(ValueError):  # an ordered product, as ordered
                    self.add_product(
                        CitedProduct(
                            product_id=UUID(pid),
                            name=str(line["name"]),
                            price=unit,
                            currency=currency,
                        )
                    )

    def all_amounts(self) -> set[Decimal]:
        return {p.price for p in self.products.values()} | self.order_amounts

    def named_in(self, text: str) -> set[str]:
        """Ids of the products whose exact name (4 characters or more) the text holds."""
        lowered = normal_name(text)
        return {
            pid
            for pid, product in self.products.items()
            if len(normal_name(product.name)) >= 4 and normal_name(product.name) in lowered
        }

    def merged(self, other: Known) -> Known:
        return Known(
            self.products | other.products,
            self.order_ids | other.order_ids,
            self.order_amounts | other.order_amounts,
            self.echoed_ids | other.echoed_ids,
            self.currencies | other.currencies,
            self.order_totals | other.order_totals,
            self.echoed_amounts | other.echoed_amounts,
        )

    @classmethod
    def of(cls, products: Iterable[CitedProduct]) -> Known:
        known = cls()
        for product in products:
            known.add_product(product)
        return known
