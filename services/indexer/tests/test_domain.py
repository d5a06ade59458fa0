"""The product fold: any delivery order and any duplicates end in the latest state."""

from __future__ import annotations

import itertools
import random
from decimal import Decimal
from uuid import uuid4

from indexer.domain import ProductState, apply, document_of
from marcus_contracts import registry
from marcus_contracts.events.catalog import (
    CategoryRef,
    ProductCreatedV2,
    ProductDeletedV1,
    ProductUpdatedV2,
    StockAdjustedV1,
)

PID = uuid4()
CATEGORY = CategoryRef(id=uuid4(), slug="outdoor", name="Outdoor")


def snapshot(cls, name: str, stock: int, price: str = "10.00"):
    return cls(
        product_id=PID,
        sku="SKU-1",
        name=name,
        description="d",
        price=Decimal(price),
        currency="EUR",
        category=CATEGORY,
        attributes={"colour": "red"},
        stock=stock,
    )


def history():
    events = [
        snapshot(ProductCreatedV2, "Jacket", 5),
        snapshot(ProductUpdatedV2, "Rain jacket", 5),
        StockAdjustedV1(product_id=PID, delta=-5, stock=0),
        snapshot(ProductUpdatedV2, "Storm jacket", 0, "12.50"),
        StockAdjustedV1(product_id=PID, delta=2, stock=2),
    ]
    return [
        (registry.envelope(e, subject=str(PID), sequence=i), e) for i, e in enumerate(events, 1)
    ]


def fold(deliveries) -> ProductState:
    state = ProductState(PID)
    for envelope, event in deliveries:
        state = apply(state, envelope, event) or state
    return state


def test_in_order_fold_builds_the_latest_document() -> None:
    state = fold(history())
    doc = document_of(state)
    assert doc.metadata["name"] == "Storm jacket"
    assert doc.metadata["price_exact"] == "12.50" and doc.metadata["price"] == 12.5
    assert doc.metadata["stock"] == 2 and doc.metadata["in_stock"] is True
    assert doc.metadata["sequence"] == 5
    assert "Storm jacket" in doc.text and "Outdoor" in doc.text and "colour: red" in doc.text


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
    deleted = ProductDeletedV1(product_id=PID, sku="SKU-1")
    gone = (registry.envelope(deleted, subject=str(PID), sequence=6), deleted)
    state = fold([*events, gone])
    assert state.deleted and not state.indexable
    early = fold([gone, *events])  # the deletion overtook everything
    assert early.deleted and not early.indexable and early.sequence == state.sequence == 6
    latest = fold(events)
    assert apply(latest, *events[1]) is None  # stale
    assert apply(latest, *events[4]) is None  # duplicate
