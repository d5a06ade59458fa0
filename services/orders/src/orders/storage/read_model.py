"""The orders service's read model of the catalog: per product its price, name, currency,
kind and stock; a configurable product's configuration (parts, options with their stock,
incompatibilities, price rules); a preconfigured product's selection.

Kept from the catalog's product events by the consumer: `catalog.product.*` (full
snapshots, event-carried state) and the stock moves (`catalog.stock.*`,
`catalog.option_stock.*`, which carry the new stock). All are events of the product
(subject, sequence), applied behind one per-product sequence guard, so an old event never
overwrites a newer state. Deleted products stay, marked deleted: an order or a cart line
naming one is refused.

The cart checks and prices lines from it with the catalog's own rules (marcus_pricing):
see docs/adr/0001-cart-pricing-from-the-read-model.md.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Update, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from marcus_contracts import Envelope
from marcus_contracts.events import catalog as ev
from marcus_pricing import Configuration, Incompatibility, Option, Part, PriceRule
from orders.storage.tables import products


async def upsert_product(
    session: AsyncSession, envelope: Envelope, event: ev.ProductCreated | ev.ProductUpdated
) -> None:
    values = {
        "sku": event.sku,
        "name": event.name,
        "price": event.price,
        "currency": event.currency,
        "kind": event.kind,
        "base_product_id": event.base_product_id,
        "stock": event.stock,
        "configuration": configuration_json(event),
        "selection": [str(chosen.option_id) for chosen in event.selection],
        "deleted": False,
        "version": envelope.sequence,
        "updated_at": envelope.time,
    }
    statement = insert(products).values(id=event.product_id, **values)
    await session.execute(statement.on_conflict_do_update(index_elements=["id"], set_=values))


async def mark_deleted(session: AsyncSession, envelope: Envelope, event: ev.ProductDeleted) -> None:
    await session.execute(
        update(products)
        .where(products.c.id == event.product_id)
        .values(deleted=True, version=envelope.sequence, updated_at=envelope.time)
    )


async def set_stock(
    session: AsyncSession,
    envelope: Envelope,
    event: ev.StockAdjusted | ev.StockReserved | ev.StockReleased,
) -> None:
    """`catalog.stock.adjusted|reserved|released`: the product's new stock."""
    await session.execute(stock_update(envelope, event))


def stock_update(
    envelope: Envelope, event: ev.StockAdjusted | ev.StockReserved | ev.StockReleased
) -> Update:
    """The UPDATE `set_stock` runs (the consumer runs it behind its sequence guard)."""
    return (
        update(products)
        .where(products.c.id == event.product_id)
        .values(stock=event.stock, version=envelope.sequence, updated_at=envelope.time)
    )


async def set_option_stock(
    session: AsyncSession,
    envelope: Envelope,
    event: ev.OptionStockReserved | ev.OptionStockReleased,
) -> None:
    """`catalog.option_stock.reserved|released`: every option's new stock (the event
    carries them all) and the product's derived stock. The per-product guard has
    serialised this with every other event of the product, so read-modify-write is safe."""
    row = (
        await session.execute(
            select(products.c.configuration).where(products.c.id == event.product_id)
        )
    ).first()
    if row is None:
        return
    stocks = {str(s.option_id): s.stock for s in event.stocks}
    configuration = dict(row.configuration)
    configuration["parts"] = [
        part
        | {
            "options": [
                option | {"stock": stocks.get(option["option_id"], option["stock"])}
                for option in part.get("options", [])
            ]
        }
        for part in configuration.get("parts", [])
    ]
    await session.execute(
        update(products)
        .where(products.c.id == event.product_id)
        .values(
            stock=event.stock,
            configuration=configuration,
            version=envelope.sequence,
            updated_at=envelope.time,
        )
    )


def configuration_json(event: ev.ProductCreated | ev.ProductUpdated) -> dict[str, Any]:
    """The configuration a v3 snapshot carries, as stored (the contract's own shapes)."""
    return {
        "parts": [part.model_dump(mode="json") for part in event.parts],
        "incompatibilities": [rule.model_dump(mode="json") for rule in event.incompatibilities],
        "price_rules": [rule.model_dump(mode="json") for rule in event.price_rules],
    }


def configuration_from_json(data: dict[str, Any]) -> Configuration:
    """The stored configuration as the pricing rules read it."""
    parts = [ev.ProductPart.model_validate(part) for part in data.get("parts", [])]
    rules = [ev.IncompatibilityRule.model_validate(r) for r in data.get("incompatibilities", [])]
    prices = [ev.PriceRule.model_validate(r) for r in data.get("price_rules", [])]
    return Configuration(
        parts=tuple(
            Part(
                part.part_id,
                part.name,
                part.required,
                tuple(
                    Option(o.option_id, part.part_id, o.name, o.price, o.stock, o.description)
                    for o in part.options
                ),
                part.description,
            )
            for part in parts
        ),
        incompatibilities=tuple(
            Incompatibility(r.rule_id, r.option_ids[0], r.option_ids[1], r.message) for r in rules
        ),
        price_rules=tuple(
            PriceRule(r.rule_id, r.option_id, r.when_option_id, r.price) for r in prices
        ),
    )
