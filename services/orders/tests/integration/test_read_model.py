"""The product read model against real PostgreSQL, written as the consumer writes it: a
configurable product's configuration and its options' stock follow the catalog's events,
and a cart line is priced and checked from it with the catalog's rules."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marcus_contracts.events import catalog as ev
from marcus_pricing import PricedLine, price_line
from orders.storage.carts import catalog_products
from services.orders.tests.integration.conftest import into_read_model, simple_product

FRAME, WHEELS = uuid4(), uuid4()
DIAMOND, SUSPENSION, ROAD, MOUNTAIN = uuid4(), uuid4(), uuid4(), uuid4()
RULE = uuid4()


def _bike() -> ev.ProductCreated:
    def option(option_id, name: str, price: str) -> ev.PartOption:  # type: ignore[no-untyped-def]
        return ev.PartOption(option_id=option_id, name=name, price=Decimal(price), stock=3)

    return ev.ProductCreated(
        product_id=uuid4(),
        sku="BIKE",
        name="Bike",
        price=Decimal("400.00"),
        currency="EUR",
        category=ev.CategoryRef(id=uuid4(), slug="bikes", name="Bikes"),
        stock=3,
        kind="configurable",
        parts=[
            ev.ProductPart(
                part_id=FRAME,
                name="Frame",
                required=True,
                options=[
                    option(DIAMOND, "Diamond", "100.00"),
                    option(SUSPENSION, "Full", "130.00"),
                ],
            ),
            ev.ProductPart(
                part_id=WHEELS,
                name="Wheels",
                required=True,
                options=[option(ROAD, "Road", "80.00"), option(MOUNTAIN, "Mountain", "95.00")],
            ),
        ],
        incompatibilities=[
            ev.IncompatibilityRule(rule_id=RULE, option_ids=[MOUNTAIN, DIAMOND], message="No.")
        ],
        price_rules=[
            ev.PriceRule(
                rule_id=uuid4(), option_id=MOUNTAIN, when_option_id=SUSPENSION, price=Decimal("70")
            )
        ],
    )


async def test_the_configuration_and_its_stock_follow_the_catalogs_events(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    bike = _bike()
    await into_read_model(sessions, bike)
    async with sessions() as session:
        known = await catalog_products(session, [bike.product_id])
    product = known[bike.product_id]
    priced = price_line(product, known, [SUSPENSION, MOUNTAIN], stock_for=3)
    assert isinstance(priced, PricedLine) and priced.unit_price == Decimal("600.00")
    broken = price_line(product, known, [DIAMOND, MOUNTAIN])
    assert isinstance(broken, list) and [(v.message, v.rule_id) for v in broken] == [("No.", RULE)]

    reserved = ev.OptionStockReserved(
        product_id=bike.product_id,
        order_id=uuid4(),
        options=[ev.OptionQuantity(option_id=MOUNTAIN, quantity=2)],
        stocks=[
            ev.OptionStock(option_id=o, stock=1 if o == MOUNTAIN else 3)
            for o in (DIAMOND, SUSPENSION, ROAD, MOUNTAIN)
        ],
        stock=1,
    )
    await into_read_model(sessions, reserved, 2)
    async with sessions() as session:
        known = await catalog_products(session, [bike.product_id])
    short = price_line(known[bike.product_id], known, [SUSPENSION, MOUNTAIN], stock_for=2)
    assert isinstance(short, list)
    assert [(v.kind, v.message) for v in short] == [
        ("out_of_stock", "only 1 of Mountain left (2 asked for)")
    ]
    assert known[bike.product_id].stock == 1


async def test_a_simple_products_stock_follows_its_stock_events(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    pump = simple_product(price="12.50", stock=5)
    await into_read_model(sessions, pump)
    reserved = ev.StockReserved(product_id=pump.product_id, order_id=uuid4(), quantity=4, stock=1)
    await into_read_model(sessions, reserved, 2)
    async with sessions() as session:
        known = await catalog_products(session, [pump.product_id])
    assert known[pump.product_id].stock == 1
    adjusted = ev.StockAdjusted(product_id=pump.product_id, delta=9, stock=10)
    await into_read_model(sessions, adjusted, 3)
    async with sessions() as session:
        assert (await catalog_products(session, [pump.product_id]))[pump.product_id].stock == 10
