"""The cart's use cases over in-memory fakes of the repository and unit of work: what
each command records, and that a refused command records nothing."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from uuid import UUID

import pytest

from marcus_contracts.events import cart as ev
from marcus_contracts.events import catalog as catalog_events
from marcus_contracts.events import orders as order_events
from marcus_eventstore import Conflict, NotFound
from marcus_pricing import (
    CONFIGURABLE,
    PRECONFIGURED,
    Configuration,
    Incompatibility,
    Option,
    Part,
    PriceRule,
    ProductFacts,
)
from orders import handlers
from orders.cart import cart_id_of
from orders.cart_pricing import LineRefused, UnknownProduct
from services.orders.tests.fakes import FakeStore, FakeUnitOfWork

FRAME, WHEELS = UUID(int=10), UUID(int=11)
DIAMOND, SUSPENSION, ROAD, MOUNTAIN = UUID(int=20), UUID(int=21), UUID(int=30), UUID(int=31)
RULE = UUID(int=40)
NEEDS_SUSPENSION = "Mountain wheels need a full-suspension frame"
CONFIGURATION = Configuration(
    parts=(
        Part(FRAME, "Frame type", True, (
            Option(DIAMOND, FRAME, "Diamond", Decimal("100.00"), 10),
            Option(SUSPENSION, FRAME, "Full suspension", Decimal("130.00"), 10),
        )),
        Part(WHEELS, "Wheels", True, (
            Option(ROAD, WHEELS, "Road", Decimal("80.00"), 10),
            Option(MOUNTAIN, WHEELS, "Mountain", Decimal("95.00"), 10),
        )),
    ),
    incompatibilities=(Incompatibility(RULE, MOUNTAIN, DIAMOND, NEEDS_SUSPENSION),),
    price_rules=(PriceRule(UUID(int=41), MOUNTAIN, SUSPENSION, Decimal("70.00")),),
)  # fmt: skip
TEA = ProductFacts(UUID(int=1), "TEA", "Tea", Decimal("4.10"), "EUR", stock=5)
BIKE = ProductFacts(
    UUID(int=2), "BIKE", "Bike", Decimal("400.00"), "EUR", CONFIGURABLE,
    configuration=CONFIGURATION,
)  # fmt: skip
TRAIL = ProductFacts(
    UUID(int=3), "TRAIL", "Trail bike", Decimal("599.00"), "EUR", PRECONFIGURED,
    base_product_id=BIKE.id, option_ids=(SUSPENSION, MOUNTAIN),
)  # fmt: skip
GONE = ProductFacts(UUID(int=4), "GONE", "Gone", Decimal("1.00"), "EUR", stock=9, deleted=True)
ADDRESS = order_events.ShippingAddress(
    name="Ada Lovelace", lines=["12 Rue de Rivoli"], city="Paris", postal_code="75001", country="FR"
)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore([TEA, BIKE, TRAIL, GONE])


async def _add(store: FakeStore, product: ProductFacts, quantity: int, *options: UUID) -> UUID:
    added = await handlers.add_line(
        handlers.AddLine("alice", product.id, quantity, options, "alice@example.com"),
        FakeUnitOfWork(store),
    )
    return added.line_id


def _checkout(total: str, key: str | None = None, body: str = "a") -> handlers.Checkout:
    return handlers.Checkout(
        customer="alice",
        email="alice@example.com",
        address=ADDRESS,
        expected_total=Decimal(total),
        idempotency_key=key,
        request_hash=body,
    )


async def test_lines_are_added_priced_by_the_catalogs_rules(store: FakeStore) -> None:
    await _add(store, TEA, 2)
    await _add(store, BIKE, 1, MOUNTAIN, SUSPENSION)
    await _add(store, TRAIL, 1)
    cart = store.carts[cart_id_of("alice")]
    tea, bike, trail = cart.lines
    assert (tea.unit_price, bike.unit_price, trail.unit_price) == (
        Decimal("4.10"),
        Decimal("600.00"),  # 400 + 130 + 70 (Mountain with Full suspension)
        Decimal("599.00"),
    )
    assert [(o.name, o.price) for o in bike.options] == [
        ("Full suspension", Decimal("130.00")),
        ("Mountain", Decimal("70.00")),
    ]
    assert trail.options == []  # a preconfigured product comes with its own options
    assert cart.email == "alice@example.com"
    assert len(store.of_type(ev.CartItemAdded)) == 3


async def test_adding_again_merges_and_checks_stock_for_the_whole_line(store: FakeStore) -> None:
    first = await _add(store, TEA, 3)
    assert await _add(store, TEA, 2) == first
    assert store.carts[cart_id_of("alice")].lines[0].quantity == 5
    with pytest.raises(LineRefused) as refused:
        await _add(store, TEA, 1)
    [short] = refused.value.violations
    assert (short.kind, short.available, short.requested) == ("out_of_stock", 5, 6)
    assert short.message == "only 5 of Tea left (6 asked for)"
    assert store.carts[cart_id_of("alice")].lines[0].quantity == 5  # unchanged


async def test_what_cannot_be_bought_is_refused_and_nothing_recorded(store: FakeStore) -> None:
    with pytest.raises(UnknownProduct):
        await _add(store, GONE, 1)
    with pytest.raises(UnknownProduct):
        await _add(store, replace(TEA, id=UUID(int=404)), 1)
    with pytest.raises(LineRefused) as incompatible:
        await _add(store, BIKE, 1, DIAMOND, MOUNTAIN)
    [rule] = incompatible.value.violations
    assert (rule.kind, rule.message, rule.rule_id) == ("incompatible", NEEDS_SUSPENSION, RULE)
    with pytest.raises(LineRefused) as lacking:
        await _add(store, BIKE, 1, ROAD)
    assert [v.message for v in lacking.value.violations] == ["Frame type is required"]
    with pytest.raises(LineRefused):
        await _add(store, TEA, 1, ROAD)  # a simple product takes no options
    assert store.events == []


async def test_quantity_remove_and_clear(store: FakeStore) -> None:
    line = await _add(store, TEA, 1)
    await handlers.set_quantity("alice", line, 4, FakeUnitOfWork(store))
    assert store.carts[cart_id_of("alice")].lines[0].quantity == 4
    with pytest.raises(LineRefused):
        await handlers.set_quantity("alice", line, 6, FakeUnitOfWork(store))
    with pytest.raises(NotFound):  # bob has no such line: his cart is his own
        await handlers.remove_line("bob", line, FakeUnitOfWork(store))
    await handlers.remove_line("alice", line, FakeUnitOfWork(store))
    await _add(store, TEA, 1)
    await handlers.clear_cart("alice", FakeUnitOfWork(store))
    await handlers.clear_cart("alice", FakeUnitOfWork(store))  # already empty: no event
    assert store.carts[cart_id_of("alice")].lines == []
    assert len(store.of_type(ev.CartCleared)) == 1


async def test_checkout_places_the_order_and_empties_the_cart_in_one_commit(
    store: FakeStore,
) -> None:
    await _add(store, TEA, 2)
    await _add(store, BIKE, 1, MOUNTAIN, SUSPENSION)
    before = len(store.events)
    uow = FakeUnitOfWork(store)
    placed = await handlers.checkout(_checkout("608.20", key="k1"), uow)
    assert uow.commits == 1
    committed = [event for _, _, event in store.events[before:]]
    assert {type(e) for e in committed} == {order_events.OrderPlaced, ev.CartCheckedOut}
    order = store.orders[placed.order_id]
    assert (order.cart_id, order.address, order.total) == (
        cart_id_of("alice"),
        ADDRESS,
        Decimal("608.20"),
    )
    assert [line.line_total for line in order.lines] == [Decimal("8.20"), Decimal("600.00")]
    assert store.carts[cart_id_of("alice")].lines == []

    replay = await handlers.checkout(_checkout("608.20", key="k1"), FakeUnitOfWork(store))
    assert (replay.order_id, replay.replayed) == (placed.order_id, True)
    with pytest.raises(Conflict, match="different request body"):
        await handlers.checkout(_checkout("1.00", key="k1", body="b"), FakeUnitOfWork(store))
    with pytest.raises(Conflict, match="empty"):
        await handlers.checkout(_checkout("608.20", key="k2"), FakeUnitOfWork(store))


async def test_a_changed_total_is_409_with_the_new_totals_and_changes_nothing(
    store: FakeStore,
) -> None:
    await _add(store, TEA, 2)
    store.products[TEA.id] = replace(TEA, price=Decimal("4.50"))
    events = len(store.events)
    with pytest.raises(handlers.TotalChanged) as changed:
        await handlers.checkout(_checkout("8.20", key="k1"), FakeUnitOfWork(store))
    assert changed.value.now.total == Decimal("9.00")
    [line] = changed.value.now.lines
    assert line.changed == ["price"] and line.line.unit_price == Decimal("4.10")
    assert len(store.events) == events and store.keys == {}  # the key is free again
    placed = await handlers.checkout(_checkout("9.00", key="k1"), FakeUnitOfWork(store))
    assert store.orders[placed.order_id].total == Decimal("9.00")


async def test_a_line_no_longer_sold_is_named_at_checkout(store: FakeStore) -> None:
    line = await _add(store, TEA, 2)
    store.products[TEA.id] = replace(TEA, deleted=True)
    with pytest.raises(handlers.LinesNotSellable) as refused:
        await handlers.checkout(_checkout("8.20"), FakeUnitOfWork(store))
    assert [now.line.line_id for now in refused.value.lines] == [line]
    assert store.orders == {}


async def test_a_rejected_checkout_gives_its_lines_back_with_notes(store: FakeStore) -> None:
    await _add(store, TEA, 2)
    await _add(store, BIKE, 1, MOUNTAIN, SUSPENSION)
    placed = await handlers.checkout(_checkout("608.20"), FakeUnitOfWork(store))
    rejection = catalog_events.StockRejected(
        order_id=placed.order_id,
        lines=[
            catalog_events.RejectedLine(
                product_id=TEA.id,
                requested=2,
                available=0,
                reason="insufficient_stock",
                line=0,
                message="Tea is out of stock",
            )
        ],
    )
    uow = FakeUnitOfWork(store)
    assert await handlers.record_rejection(rejection, uow) is True
    assert uow.commits == 1
    assert store.orders[placed.order_id].status == "rejected"
    tea, bike = store.carts[cart_id_of("alice")].lines
    assert (tea.product_id, tea.quantity, tea.note) == (
        TEA.id,
        2,
        "Not ordered: Tea is out of stock",
    )
    assert bike.note == "Not ordered, because of another line of the order: Tea is out of stock"
    assert [o.option_id for o in bike.options] == [SUSPENSION, MOUNTAIN]
    [restored] = store.of_type(ev.CartItemsRestored)
    assert restored.order_id == placed.order_id

    # The same answer delivered again changes nothing (the order is no longer pending).
    assert await handlers.record_rejection(rejection, FakeUnitOfWork(store)) is False
    assert len(store.carts[cart_id_of("alice")].lines) == 2
