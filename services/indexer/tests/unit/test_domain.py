"""The product fold: any delivery order and any duplicates end in the latest state."""

from __future__ import annotations

import itertools
import random
from decimal import Decimal
from uuid import uuid4

from indexer.domain import ProductState, apply, document_of, indexed_form
from marcus_contracts import registry
from marcus_contracts.events.catalog import (
    CategoryRef,
    ProductCreated,
    ProductDeleted,
    ProductUpdated,
    StockAdjusted,
)

PID = uuid4()
CATEGORY = CategoryRef(id=uuid4(), slug="outdoor", name="Outdoor")


def snapshot(cls, name: str, stock: int, price: str = "10.00", **fields):
    """A product snapshot event (`cls`: created, updated...) of PID unless `fields` say."""
    defaults = {"product_id": PID, "sku": "SKU-1", "description": "d"}
    return cls(
        **defaults | {"attributes": {"colour": "red"}} | fields,
        name=name,
        price=Decimal(price),
        currency="EUR",
        category=CATEGORY,
        stock=stock,
    )


def history():
    events = [
        snapshot(ProductCreated, "Jacket", 5),
        snapshot(ProductUpdated, "Rain jacket", 5),
        StockAdjusted(product_id=PID, delta=-5, stock=0),
        snapshot(ProductUpdated, "Storm jacket", 0, "12.50"),
        StockAdjusted(product_id=PID, delta=2, stock=2),
    ]
    return [
        (registry.envelope(e, subject=str(PID), sequence=i), e) for i, e in enumerate(events, 1)
    ]


def fold(deliveries, product_id=PID) -> ProductState:
    """The state after these (envelope, event) deliveries, in their order."""
    state = ProductState(product_id)
    for envelope, event in deliveries:
        state = apply(state, envelope, event) or state
    return state


def test_in_order_fold_builds_the_latest_document() -> None:
    state = fold(history())
    doc = document_of(state)
    assert doc.metadata["name"] == "Storm jacket"
    assert doc.metadata["price_exact"] == "12.50" and doc.metadata["price"] == 12.5
    assert doc.metadata["in_stock"] is True
    assert (state.stock, state.sequence) == (2, 5)  # the fold keeps them, the document not
    assert "Storm jacket" in doc.text and "Outdoor" in doc.text and "colour: red" in doc.text


def test_the_indexed_form_changes_only_when_the_document_does() -> None:
    """A stock change that keeps the product in stock (or out of it) leaves the document
    as it was: nothing to sync. Crossing zero, a rename, a deletion change it."""
    states = [ProductState(PID)]
    for envelope, event in history():
        states.append(apply(states[-1], envelope, event) or states[-1])
    forms = [indexed_form(state) for state in states]
    assert forms[0] is None  # nothing folded yet: nothing indexed
    assert forms[1] != forms[2]  # renamed
    assert forms[2] != forms[3]  # sold out: in_stock false
    restocked = StockAdjusted(product_id=PID, delta=3, stock=3)
    more = apply(states[-1], registry.envelope(restocked, subject=str(PID), sequence=6), restocked)
    assert more is not None and more.stock == 3
    assert indexed_form(more) == forms[-1]  # 2 -> 3 in stock: the same document
    reserved = StockAdjusted(product_id=PID, delta=-3, stock=0)
    sold_out = apply(more, registry.envelope(reserved, subject=str(PID), sequence=7), reserved)
    assert sold_out is not None and indexed_form(sold_out) != forms[-1]  # 3 -> 0
    deleted = ProductDeleted(product_id=PID, sku="SKU-1")
    gone = apply(more, registry.envelope(deleted, subject=str(PID), sequence=8), deleted)
    assert gone is not None and indexed_form(gone) is False


def test_every_order_and_duplicates_give_the_same_state() -> None:
    expected = fold(history())
    events = history()
    for order in itertools.permutations(events):
        assert fold(order) == expected
    rng = random.Random(7)
    for _ in range(200):
        deliveries = [rng.choice(events) for _ in range(12)] + events
        rng.shuffle(deliveries)
        assert fold(deliveries) == expected


def test_a_rename_delivered_after_a_later_stock_change_is_not_lost() -> None:
    events = history()
    state = fold([events[0], events[4], events[3]])  # created, stock(5), update(4)
    assert state.snapshot is not None and state.snapshot["name"] == "Storm jacket"
    assert state.stock == 2 and state.sequence == 5


def test_deletion_is_final_and_stale_events_do_nothing() -> None:
    events = history()
    deleted = ProductDeleted(product_id=PID, sku="SKU-1")
    gone = (registry.envelope(deleted, subject=str(PID), sequence=6), deleted)
    state = fold([*events, gone])
    assert state.deleted and not state.indexable
    early = fold([gone, *events])  # the deletion overtook everything
    assert early.deleted and not early.indexable and early.sequence == state.sequence == 6
    latest = fold(events)
    assert apply(latest, *events[1]) is None  # stale
    assert apply(latest, *events[4]) is None  # duplicate


# ------------------------------------------------------------- configurable products

BIKE = uuid4()
FRAME, WHEELS, BELL = uuid4(), uuid4(), uuid4()
OPTIONS = {name: uuid4() for name in ("Diamond", "Full", "Road", "Mountain", "Bell")}


def bike_snapshot(cls, *, road_price: str = "80.00", stocks: dict[str, int] | None = None):
    from marcus_contracts.events.catalog import PartOption, ProductPart

    stock_of = {name: 4 for name in OPTIONS} | (stocks or {})

    def option(name: str, price: str, description: str = "") -> PartOption:
        return PartOption(
            option_id=OPTIONS[name],
            name=name,
            description=description,
            price=Decimal(price),
            stock=stock_of[name],
        )

    return snapshot(
        cls,
        "Custom bicycle",
        8,
        "400.00",
        product_id=BIKE,
        sku="BIKE",
        description="Build your own.",
        attributes={},
        kind="configurable",
        parts=[
            ProductPart(
                part_id=FRAME,
                name="Frame",
                required=True,
                options=[
                    option("Diamond", "100.00", "Light aluminium frame"),
                    option("Full", "130.00", "For steep trails"),
                ],
            ),
            ProductPart(
                part_id=WHEELS,
                name="Wheels",
                required=True,
                options=[option("Road", road_price), option("Mountain", "95.00")],
            ),
            ProductPart(
                part_id=BELL, name="Bell", required=False, options=[option("Bell", "5.00")]
            ),
        ],
    )


def option_stock_event(cls, sequence_stocks: dict[str, int], moved: str, stock: int):
    from marcus_contracts.events.catalog import OptionQuantity, OptionStock

    return cls(
        product_id=BIKE,
        order_id=uuid4(),
        options=[OptionQuantity(option_id=OPTIONS[moved], quantity=1)],
        stocks=[OptionStock(option_id=OPTIONS[n], stock=s) for n, s in sequence_stocks.items()],
        stock=stock,
    )


def bike_history():
    from marcus_contracts.events.catalog import (
        OptionStockReleased,
        OptionStockReserved,
        ProductCreated,
        ProductUpdated,
    )

    all_four = dict.fromkeys(OPTIONS, 4)
    events = [
        bike_snapshot(ProductCreated),
        option_stock_event(OptionStockReserved, all_four | {"Road": 3}, "Road", 7),
        bike_snapshot(ProductUpdated, road_price="60.00", stocks={"Road": 3}),
        option_stock_event(OptionStockReserved, all_four | {"Road": 0}, "Road", 4),
        option_stock_event(OptionStockReleased, all_four | {"Road": 1}, "Road", 5),
    ]
    return [
        (registry.envelope(e, subject=str(BIKE), sequence=i), e) for i, e in enumerate(events, 1)
    ]


def test_a_configurable_product_is_indexed_with_its_parts_and_options() -> None:
    state = ProductState(BIKE)
    for envelope, event in bike_history():
        state = apply(state, envelope, event) or state
    doc = document_of(state)

    assert "Configurable: choose Frame, Wheels, Bell" in doc.text
    assert "Diamond (Light aluminium frame) [EUR 100.00]" in doc.text
    assert "Full (For steep trails) [EUR 130.00]" in doc.text
    assert "Road [EUR 60.00]" in doc.text  # the option's new price reached the document
    assert "Bell (optional): Bell [EUR 5.00]" in doc.text
    assert doc.metadata["kind"] == "configurable"
    # The cheapest build: 400 + Diamond 100 + Road 60 (in stock again) = 560.00
    assert (doc.metadata["price_exact"], doc.metadata["price"]) == ("560.00", 560.0)
    assert doc.metadata["in_stock"] is True and state.stock == 5
    assert state.option_stock is not None and state.option_stock[str(OPTIONS["Road"])] == 1


def test_option_stock_follows_the_latest_sequence_in_any_delivery_order() -> None:
    events = bike_history()
    expected = fold_bike(events)
    for order in itertools.permutations(events):
        assert fold_bike(order) == expected
    # sold out in between: the document says so, and the cheapest build moves on
    sold_out = fold_bike(events[:4])
    doc = document_of(sold_out)
    assert "Road [EUR 60.00, sold out]" in doc.text
    assert doc.metadata["price_exact"] == "595.00"  # 400 + 100 + Mountain 95


def fold_bike(deliveries) -> ProductState:
    return fold(deliveries, BIKE)


def test_a_preconfigured_product_is_indexed_like_a_product() -> None:
    from marcus_contracts.events.catalog import SelectedOption

    preset = uuid4()
    created = snapshot(
        ProductCreated,
        "Trail rider",
        3,
        "849.00",
        product_id=preset,
        sku="TRAIL",
        description="Ready to ride.",
        attributes={},
        kind="preconfigured",
        base_product_id=BIKE,
        selection=[
            SelectedOption(option_id=OPTIONS["Full"], part_id=FRAME, part="Frame", name="Full"),
            SelectedOption(
                option_id=OPTIONS["Mountain"], part_id=WHEELS, part="Wheels", name="Mountain"
            ),
        ],
    )
    adjusted = StockAdjusted(product_id=preset, delta=-3, stock=0, reason="options")
    events = (created, adjusted)
    state = fold(
        [
            (registry.envelope(e, subject=str(preset), sequence=i), e)
            for i, e in enumerate(events, 1)
        ],
        preset,
    )

    doc = document_of(state)
    assert "Preconfigured with Frame: Full; Wheels: Mountain" in doc.text
    assert doc.metadata["price_exact"] == "849.00" and doc.metadata["kind"] == "preconfigured"
    assert doc.metadata["base_product_id"] == str(BIKE)
    assert doc.metadata["in_stock"] is False
