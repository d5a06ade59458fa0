"""Catalog aggregates for pure tests, as they are once stored: no pending events, and
the version their creation gave them (the domain, fakes and handler tests share them)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from catalog import configuration as cfg
from catalog.domain import Category, Product


def stored(*aggregates: Any) -> None:
    """As a repository hands them out: recorded events committed, versions counted."""
    for aggregate in aggregates:
        aggregate.version += len(aggregate.pending)
        aggregate.pending.clear()


def a_category(slug: str = "bikes", name: str = "Bikes") -> Category:
    category = Category.create(slug, name)
    stored(category)
    return category


def a_product(category: Category | None = None, **fields: Any) -> Product:
    """A simple product (or `kind="configurable"`): Road bike, EUR 10.00, 2 in stock."""
    product = Product.create(
        **{
            "sku": "B-1",
            "name": "Road bike",
            "description": "",
            "price": Decimal("10.00"),
            "currency": "EUR",
            "category": category or a_category(),
            "attributes": {},
            "stock": 2,
        }
        | fields
    )
    stored(product)
    return product


def a_bike(stock: int = 5) -> tuple[Product, dict[str, UUID]]:
    """Frame (Diamond, Full) and Wheels (Road, Mountain) required; Bell optional;
    Mountain incompatible with Diamond; Bell costs 1.00 with Mountain. Options by name."""
    bike = a_product(sku="BIKE", name="Bike", price=Decimal("400.00"), stock=0, kind="configurable")
    config, frame = cfg.with_part(bike.configuration, name="Frame", required=True)
    config, wheels = cfg.with_part(config, name="Wheels", required=True)
    config, extras = cfg.with_part(config, name="Bell", required=False)
    ids = {}
    for part, name, price in [
        (frame, "Diamond", "100.00"),
        (frame, "Full", "130.00"),
        (wheels, "Road", "80.00"),
        (wheels, "Mountain", "95.00"),
        (extras, "Bell", "5.00"),
    ]:
        config, ids[name] = cfg.with_option(
            config, part, name=name, price=Decimal(price), stock=stock
        )
    config, _ = cfg.with_incompatibility(config, ids["Mountain"], ids["Diamond"], "needs Full")
    config, _ = cfg.with_price_rule(config, ids["Bell"], ids["Mountain"], Decimal("1.00"))
    bike.reconfigure(config)
    stored(bike)
    return bike, ids


def a_preset(bike: Product, *options: UUID, sku: str = "TRAIL") -> Product:
    """A preconfigured product of `bike` with these options."""
    preset = Product.create_preset(
        base=bike,
        selection=list(options),
        sku=sku,
        name="Trail",
        description="",
        price=Decimal("599.00"),
        currency="EUR",
        category=a_category("c", "C"),
        attributes={},
    )
    stored(preset)
    return preset
