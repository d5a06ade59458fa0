"""Configurable products and priced orders: the v3 product snapshot, the order's answer
from the catalog, and the upcasters that let old events read as the new versions."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

import pytest
from pydantic import ValidationError

from marcus_contracts import Envelope, registry
from marcus_contracts.events import catalog as ev
from marcus_contracts.events import orders as order_events
from marcus_contracts.events.history import catalog as catalog_history
from marcus_contracts.events.history import orders as order_history

ORDER = UUID("0190c2a4-7b1e-7c3d-9a4f-2b6e8d1c0b01")
PRODUCT = UUID("0190c2a4-7b1e-7c3d-9a4f-2b6e8d1c0b02")
OPTION = UUID("0190c2a4-7b1e-7c3d-9a4f-2b6e8d1c0b03")


def _raw(event_type: str, version: int, data: dict, subject: str = str(ORDER)) -> Envelope:
    return Envelope(
        source=event_type.split(".")[0],
        type=event_type,
        subject=subject,
        dataversion=version,
        sequence=1,
        data=data,
    )


def test_a_v2_product_reads_as_a_simple_v3_product(product_created: ev.ProductCreated) -> None:
    v2 = catalog_history.ProductCreatedV2(
        **product_created.model_dump(include=set(catalog_history.ProductCreatedV2.model_fields))
    )
    envelope = registry.envelope(v2, subject=str(v2.product_id), sequence=1)

    event = registry.decode(envelope)

    assert isinstance(event, ev.ProductCreated)
    assert (event.kind, event.parts, event.selection) == ("simple", [], [])
    assert (
        event.model_dump(include=set(catalog_history.ProductCreatedV2.model_fields))
        == v2.model_dump()
    )


def test_a_configurable_snapshot_round_trips(product_created: ev.ProductCreated) -> None:
    frame = ev.ProductPart(
        part_id=UUID(int=1),
        name="Frame",
        required=True,
        options=[ev.PartOption(option_id=OPTION, name="Full suspension", price="130", stock=4)],
    )
    rule = ev.PriceRule(
        rule_id=UUID(int=3), option_id=UUID(int=4), when_option_id=OPTION, price="50.00"
    )
    bike = product_created.model_copy(
        update={"kind": "configurable", "parts": [frame], "price_rules": [rule]}
    )
    envelope = registry.envelope(ev.ProductCreated(**bike.model_dump()), subject="p", sequence=1)

    decoded = registry.decode(Envelope.from_json(envelope.to_json()))

    assert isinstance(decoded, ev.ProductCreated)
    assert decoded.parts[0].options[0].price == Decimal("130")
    assert decoded.price_rules == [rule]


def test_an_incompatibility_names_exactly_two_options() -> None:
    with pytest.raises(ValidationError):
        ev.IncompatibilityRule(rule_id=UUID(int=1), option_ids=[OPTION], message="no")


def test_a_v1_rejection_reads_as_v2_with_a_message() -> None:
    line = {"product_id": str(PRODUCT), "requested": 3, "available": 1}
    envelope = _raw(
        "catalog.stock.rejected",
        1,
        {"order_id": str(ORDER), "lines": [{**line, "reason": "insufficient_stock"}]},
    )

    event = registry.decode(envelope)

    assert isinstance(event, ev.StockRejected)
    [rejected] = event.lines
    assert (rejected.reason, rejected.requested, rejected.available) == ("insufficient_stock", 3, 1)
    assert rejected.message == "not enough in stock"
    assert rejected.option_id is None and rejected.line is None


@pytest.mark.parametrize("model", order_events.ALL[:5], ids=lambda m: m.event_type)
def test_v1_orders_read_as_v2_with_priced_simple_lines(model: type) -> None:
    line = {
        "product_id": str(PRODUCT),
        "sku": "MUG-1",
        "name": "Mug",
        "unit_price": "3.20",
        "quantity": 2,
        "line_total": "6.40",
    }
    data = {
        "order_id": str(ORDER),
        "customer": "alice",
        "email": "alice@example.com",
        "currency": "EUR",
        "lines": [line],
        "total": "6.40",
    }
    event = registry.decode(_raw(model.event_type, 1, data))

    assert event.version == 2
    assert isinstance(event, order_events.OrderEvent)
    [decoded] = event.lines
    assert (decoded.kind, decoded.options, decoded.base_product_id) == ("simple", [], None)
    assert (decoded.unit_price, decoded.line_total) == (Decimal("3.20"), Decimal("6.40"))
    assert event.total == Decimal("6.40")


def test_an_unpriced_configured_line_is_valid_only_in_v2() -> None:
    line = order_events.OrderLine(
        product_id=PRODUCT,
        sku="BIKE",
        name="Bike",
        quantity=1,
        kind="configurable",
        options=[order_events.LineOption(option_id=OPTION)],
    )
    placed = order_events.OrderPlaced(
        order_id=ORDER, customer="alice", email="a@b.c", currency="EUR", lines=[line]
    )
    assert placed.total is None and placed.lines[0].unit_price is None
    with pytest.raises(ValidationError):
        order_history.OrderLine(**line.model_dump())  # v1 lines are always priced
