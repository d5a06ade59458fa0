"""price_line over plain values (ProductFacts): every kind, the catalog's words."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from marcus_pricing import (
    CONFIGURABLE,
    PRECONFIGURED,
    Configuration,
    Incompatibility,
    Option,
    Part,
    PricedLine,
    PriceRule,
    ProductFacts,
    price_line,
)

FRAME, WHEELS = UUID(int=10), UUID(int=11)
DIAMOND, SUSPENSION = UUID(int=20), UUID(int=21)
ROAD, MOUNTAIN = UUID(int=30), UUID(int=31)
RULE = UUID(int=40)
CONFIGURATION = Configuration(
    parts=(
        Part(FRAME, "Frame", True, (
            Option(DIAMOND, FRAME, "Diamond", Decimal("100.00"), 5),
            Option(SUSPENSION, FRAME, "Full suspension", Decimal("130.00"), 1),
        )),
        Part(WHEELS, "Wheels", True, (
            Option(ROAD, WHEELS, "Road", Decimal("80.00"), 5),
            Option(MOUNTAIN, WHEELS, "Mountain", Decimal("95.00"), 5),
        )),
    ),
    incompatibilities=(Incompatibility(RULE, MOUNTAIN, DIAMOND, "Mountain wheels need suspension"),),
    price_rules=(PriceRule(UUID(int=41), MOUNTAIN, SUSPENSION, Decimal("70.00")),),
)  # fmt: skip
BIKE = ProductFacts(
    UUID(int=1), "BIKE", "Bike", Decimal("400.00"), "EUR", CONFIGURABLE,
    configuration=CONFIGURATION,
)  # fmt: skip
TRAIL = ProductFacts(
    UUID(int=2), "TRAIL", "Trail", Decimal("599.00"), "EUR", PRECONFIGURED,
    base_product_id=BIKE.id, option_ids=(SUSPENSION, MOUNTAIN),
)  # fmt: skip
TEA = ProductFacts(UUID(int=3), "TEA", "Tea", Decimal("4.10"), "EUR", stock=2)
KNOWN = {p.id: p for p in (BIKE, TRAIL, TEA)}


def test_a_configuration_is_priced_with_its_rules() -> None:
    line = price_line(BIKE, KNOWN, [MOUNTAIN, SUSPENSION])
    assert isinstance(line, PricedLine)
    assert line.unit_price == Decimal("600.00")  # 400 + 130 + 70 (the rule's price)


def test_a_broken_rule_and_a_missing_part_read_as_the_catalog_words_them() -> None:
    violations = price_line(BIKE, KNOWN, [MOUNTAIN, DIAMOND])
    assert isinstance(violations, list)
    assert [(v.kind, v.message, v.rule_id) for v in violations] == [
        ("incompatible", "Mountain wheels need suspension", RULE)
    ]
    missing = price_line(BIKE, KNOWN, [ROAD])
    assert isinstance(missing, list) and [v.message for v in missing] == ["Frame is required"]


def test_stock_is_checked_only_when_asked() -> None:
    assert isinstance(price_line(TEA, KNOWN, [], stock_for=2), PricedLine)
    [short] = price_line(TEA, KNOWN, [], stock_for=3)  # type: ignore[misc]
    assert (short.kind, short.message, short.available) == (
        "out_of_stock",
        "only 2 of Tea left (3 asked for)",
        2,
    )
    [option] = price_line(TRAIL, KNOWN, [], stock_for=2)  # type: ignore[misc]
    assert option.message == "only 1 of Full suspension left (2 asked for)"


def test_a_preconfigured_product_has_its_own_price_and_takes_no_options() -> None:
    line = price_line(TRAIL, KNOWN, [])
    assert isinstance(line, PricedLine) and line.unit_price == Decimal("599.00")
    refused = price_line(TRAIL, KNOWN, [ROAD])
    assert isinstance(refused, list) and "comes with its options" in refused[0].message
    gone = price_line(TRAIL, {TRAIL.id: TRAIL}, [])
    assert isinstance(gone, list) and gone[0].message == "Trail is no longer available"
