"""A placement's answer comes from its projection's INSERT .. RETURNING: it must be the
order exactly as `queries.get_order` reads it back, lines, options and address included;
an order already there returns nothing (the answer then comes from the SELECT)."""

from __future__ import annotations

from uuid import uuid4

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marcus_contracts import registry
from marcus_contracts.events import orders as ev
from orders.storage import queries
from orders.storage.projector import PLACED_VIEWS, OrdersProjector


def _placed() -> ev.OrderPlaced:
    return ev.OrderPlaced(
        order_id=uuid4(),
        customer="alice",
        email="alice@example.com",
        currency="EUR",
        lines=[
            ev.OrderLine(product_id=uuid4(), sku="PUMP", name="Pump", quantity=2),
            ev.OrderLine(
                product_id=uuid4(),
                sku="BIKE",
                name="Bike",
                quantity=1,
                kind="configurable",
                options=[ev.LineOption(option_id=uuid4()), ev.LineOption(option_id=uuid4())],
            ),
        ],
        address=ev.ShippingAddress(
            name="Alice", lines=["1 Road"], city="Town", postal_code="1000", country="NL"
        ),
    )


async def test_the_returned_order_is_the_order_read_back(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    event = _placed()
    envelope = registry.envelope(event, subject=str(event.order_id), sequence=1)
    projector = OrdersProjector()
    async with sessions() as session, session.begin():
        views: dict = session.info.setdefault(PLACED_VIEWS, {})
        await projector.apply(session, envelope)
        returned = views.pop(event.order_id)
        read_back = await queries.get_order(session, event.order_id)
        assert read_back is not None
        assert returned == read_back
        assert [line["quantity"] for line in returned["lines"]] == [2, 1]
        assert returned["total"] is None and read_back["total"] is None

        await projector.apply(session, envelope)  # placed again: nothing inserted
        assert event.order_id not in views
        await session.rollback()


async def test_no_view_is_kept_outside_a_placement(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Only a unit of work that asks for views (puts the dict there) gets them."""
    event = _placed()
    envelope = registry.envelope(event, subject=str(event.order_id), sequence=1)
    async with sessions() as session, session.begin():
        await OrdersProjector().apply(session, envelope)
        assert PLACED_VIEWS not in session.info
        assert (await queries.get_order(session, event.order_id)) is not None
        await session.rollback()
