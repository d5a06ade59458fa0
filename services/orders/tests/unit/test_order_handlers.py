"""The orders' command handlers over in-memory fakes of the repository and unit of work:
placing (and its Idempotency-Key), the admin and customer transitions, and the saga's
steps that record the catalog's answer. A refused command records nothing."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

import pytest

from marcus_contracts.events import catalog as catalog_events
from marcus_contracts.events import orders as ev
from marcus_eventstore import Conflict, NotFound
from marcus_pricing import ProductFacts
from orders import handlers
from orders.domain import LineRequest, UnknownProducts
from services.orders.tests.fakes import FakeStore, FakeUnitOfWork

TEA = ProductFacts(UUID(int=1), "TEA", "Tea", Decimal("4.10"), "EUR", stock=5)
GONE = ProductFacts(UUID(int=4), "GONE", "Gone", Decimal("1.00"), "EUR", deleted=True)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore([TEA, GONE])


def _place(key: str | None = None, body: str = "a", *lines: LineRequest) -> handlers.PlaceOrder:
    return handlers.PlaceOrder(
        customer="alice",
        email="alice@example.com",
        lines=list(lines) or [LineRequest(TEA.id, 2)],
        idempotency_key=key,
        request_hash=body,
    )


async def _confirmed(store: FakeStore) -> UUID:
    """An order the catalog confirmed at its published price."""
    placed = await handlers.place_order(_place(), FakeUnitOfWork(store))
    allocated = catalog_events.StockAllocated(
        order_id=placed.order_id,
        currency="EUR",
        lines=[
            catalog_events.AllocatedLine(
                line=0,
                product_id=TEA.id,
                sku=TEA.sku,
                name=TEA.name,
                quantity=2,
                base_price=TEA.price,
                unit_price=TEA.price,
                line_total=TEA.price * 2,
            )
        ],
        total=TEA.price * 2,
    )
    assert await handlers.record_allocation(allocated, FakeUnitOfWork(store)) is True
    return placed.order_id


async def test_an_order_is_placed_pending_at_the_published_price(store: FakeStore) -> None:
    uow = FakeUnitOfWork(store)
    placed = await handlers.place_order(_place(), uow)
    assert uow.commits == 1 and placed.replayed is False
    order = store.orders[placed.order_id]
    assert (order.status, order.customer, order.total) == ("pending", "alice", Decimal("8.20"))
    [event] = store.of_type(ev.OrderPlaced)
    assert event.order_id == placed.order_id


async def test_an_unknown_or_deleted_product_places_nothing(store: FakeStore) -> None:
    with pytest.raises(UnknownProducts) as refused:
        await handlers.place_order(
            _place(None, "a", LineRequest(TEA.id, 1), LineRequest(GONE.id, 1)),
            FakeUnitOfWork(store),
        )
    assert refused.value.positions == [1]
    assert store.orders == {} and store.events == []


async def test_the_same_key_replays_the_order_and_another_body_is_409(store: FakeStore) -> None:
    first = await handlers.place_order(_place("k1"), FakeUnitOfWork(store))
    again = await handlers.place_order(_place("k1"), FakeUnitOfWork(store))
    assert (again.order_id, again.replayed) == (first.order_id, True)
    with pytest.raises(Conflict):
        await handlers.place_order(_place("k1", "b"), FakeUnitOfWork(store))
    assert len(store.orders) == 1


async def test_a_confirmed_order_is_shipped_then_delivered(store: FakeStore) -> None:
    order_id = await _confirmed(store)
    await handlers.ship_order(order_id, "ops", FakeUnitOfWork(store))
    await handlers.deliver_order(order_id, "ops", FakeUnitOfWork(store))
    assert store.orders[order_id].status == "delivered"
    assert [e.order_id for e in store.of_type(ev.OrderShipped)] == [order_id]
    assert [e.order_id for e in store.of_type(ev.OrderDelivered)] == [order_id]


async def test_a_pending_order_cannot_be_shipped(store: FakeStore) -> None:
    placed = await handlers.place_order(_place(), FakeUnitOfWork(store))
    with pytest.raises(Conflict):
        await handlers.ship_order(placed.order_id, "ops", FakeUnitOfWork(store))
    with pytest.raises(Conflict):
        await handlers.deliver_order(placed.order_id, "ops", FakeUnitOfWork(store))
    assert store.orders[placed.order_id].status == "pending"


async def test_a_customer_cancels_only_their_own_order(store: FakeStore) -> None:
    order_id = await _confirmed(store)
    with pytest.raises(NotFound):
        await handlers.cancel_order(order_id, "mallory", FakeUnitOfWork(store))
    assert store.orders[order_id].status == "confirmed"
    await handlers.cancel_order(order_id, "alice", FakeUnitOfWork(store))
    [cancelled] = store.of_type(ev.OrderCancelled)
    assert (cancelled.order_id, cancelled.cancelled_by) == (order_id, "alice")


async def test_an_admin_cancels_any_order(store: FakeStore) -> None:
    order_id = await _confirmed(store)
    await handlers.cancel_order(order_id, "ops", FakeUnitOfWork(store), as_admin=True)
    assert store.orders[order_id].status == "cancelled"


async def test_the_catalogs_answer_confirms_once_and_unknown_orders_are_ignored(
    store: FakeStore,
) -> None:
    order_id = await _confirmed(store)
    assert store.orders[order_id].status == "confirmed"
    assert len(store.of_type(ev.OrderConfirmed)) == 1
    rejection = catalog_events.StockRejected(
        order_id=UUID(int=99),
        lines=[
            catalog_events.RejectedLine(
                product_id=TEA.id, requested=2, available=0, reason="insufficient_stock"
            )
        ],
    )
    assert await handlers.record_rejection(rejection, FakeUnitOfWork(store)) is False
    late = rejection.model_copy(update={"order_id": order_id})
    assert await handlers.record_rejection(late, FakeUnitOfWork(store)) is False
    assert store.orders[order_id].status == "confirmed"
