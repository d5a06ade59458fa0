"""The catalog's side of the order saga, in the catalog app (API + relay + saga
consumer) on a real socket: order events go in on `events.orders`, answers come out on
`events.catalog`."""

from __future__ import annotations

import asyncio
from uuid import UUID, uuid4

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from catalog import handlers
from catalog.storage.uow import CatalogUnitOfWork
from marcus_contracts import Envelope, StreamNames, new_event_id
from marcus_contracts.events.history import orders as order_history
from marcus_eventstore import rebuild_projections
from marcus_messaging import group_state
from services.catalog.tests.support import order_envelope
from tests.support.servers import wait_for


async def _answers(catalog_stream, order_id: UUID) -> list[Envelope]:
    """The stock events for an order (the priced answer, `allocated`, aside)."""
    return [
        e
        for e in await catalog_stream.envelopes()
        if e.type.startswith("catalog.stock.")
        and e.type != "catalog.stock.allocated"
        and e.data.get("order_id") == str(order_id)
    ]


async def _allocated(catalog_stream, order_id: UUID) -> list[Envelope]:
    return [
        e
        for e in await catalog_stream.envelopes()
        if e.type == "catalog.stock.allocated" and e.subject == str(order_id)
    ]


async def _consumed_all(redis_client, stream_prefix: str) -> bool:
    """The catalog group has read every entry of events.orders and acked them all."""
    stream = StreamNames(stream_prefix).events("orders")
    state = await group_state(redis_client, stream, "catalog")
    return state is not None and state.lag == 0 and state.pending == 0


async def test_reserves_all_lines_once_even_when_the_order_arrives_twice(
    api, client, orders_stream, catalog_stream, engine: AsyncEngine, redis_client, stream_prefix
) -> None:
    category = await api.category()
    a = await api.product(category["id"], sku="A", stock=5)
    b = await api.product(category["id"], sku="B", stock=2)
    order_id = new_event_id()
    placed = order_envelope(order_history.OrderPlacedV1, order_id, [(a["id"], 3), (b["id"], 2)], 1)
    await orders_stream(placed)
    await orders_stream(placed)  # redelivered / published twice

    async def reserved() -> bool:
        return len(await _answers(catalog_stream, order_id)) == 2

    await wait_for(reserved, within=20, what="two reserved events")
    answers = await _answers(catalog_stream, order_id)
    assert {e.type for e in answers} == {"catalog.stock.reserved"}
    assert {(e.subject, e.data["quantity"], e.data["stock"]) for e in answers} == {
        (a["id"], 3, 2),
        (b["id"], 2, 0),
    }
    assert all(e.causationid == str(placed.id) for e in answers)
    await wait_for(lambda: _consumed_all(redis_client, stream_prefix), what="both copies handled")
    assert len(await _answers(catalog_stream, order_id)) == 2
    # One priced answer for the order, at the catalog's prices (999.90 each).
    [allocated] = await _allocated(catalog_stream, order_id)
    assert [
        (line["product_id"], line["unit_price"], line["line_total"])
        for line in allocated.data["lines"]
    ] == [(a["id"], "999.90", "2999.70"), (b["id"], "999.90", "1999.80")]
    assert allocated.data["total"] == "4999.50"
    product_a = (await client.get(f"/api/v1/products/{a['id']}")).json()
    assert (product_a["stock"], product_a["version"]) == (2, 2)

    # Cancel: the stock comes back, once, as product events.
    cancelled = order_envelope(
        order_history.OrderCancelledV1, order_id, [(a["id"], 3), (b["id"], 2)], 3
    )
    await orders_stream(cancelled)
    await orders_stream(cancelled)

    async def released() -> bool:
        answers = await _answers(catalog_stream, order_id)
        return sum(e.type == "catalog.stock.released" for e in answers) == 2

    await wait_for(released, within=20, what="two released events")
    assert (await client.get(f"/api/v1/products/{a['id']}")).json()["stock"] == 5
    assert (await client.get(f"/api/v1/products/{b['id']}")).json()["stock"] == 2

    # The projections rebuild from the events to the same state.
    async with engine.connect() as conn:
        before = (await conn.execute(text("SELECT id, stock, version FROM catalog.products"))).all()
        holds = (await conn.execute(text("SELECT * FROM catalog.reservations"))).all()
    await rebuild_projections(engine, CatalogUnitOfWork.store, CatalogUnitOfWork.projector)
    async with engine.connect() as conn:
        after = (await conn.execute(text("SELECT id, stock, version FROM catalog.products"))).all()
        assert (await conn.execute(text("SELECT * FROM catalog.reservations"))).all() == holds
    assert sorted(before) == sorted(after)
    assert {row.status for row in holds} == {"released"}


async def test_rejects_the_whole_order_with_a_reason_per_line(
    api, client, orders_stream, catalog_stream
) -> None:
    category = await api.category()
    a = await api.product(category["id"], sku="A", stock=5)
    b = await api.product(category["id"], sku="B", stock=1)
    unknown = str(uuid4())
    order_id = new_event_id()
    await orders_stream(
        order_envelope(
            order_history.OrderPlacedV1, order_id, [(a["id"], 2), (b["id"], 4), (unknown, 1)], 1
        )
    )

    async def answered() -> list[Envelope]:
        return await _answers(catalog_stream, order_id)

    [rejected] = await wait_for(answered, within=20, what="the rejection")
    assert rejected.type == "catalog.stock.rejected" and rejected.subject == str(order_id)
    reasons = {line["product_id"]: line for line in rejected.data["lines"]}
    assert rejected.dataversion == 2  # v2: a position, an option and a message per refusal
    assert reasons == {
        b["id"]: {
            "product_id": b["id"],
            "requested": 4,
            "available": 1,
            "reason": "insufficient_stock",
            "line": 1,
            "option_id": None,
            "message": "only 1 of Road bike left (4 asked for)",
        },
        unknown: {
            "product_id": unknown,
            "requested": 1,
            "available": 0,
            "reason": "unknown_product",
            "line": 2,
            "option_id": None,
            "message": "no longer sold",
        },
    }
    assert (await client.get(f"/api/v1/products/{a['id']}")).json()["stock"] == 5


async def test_reservations_and_patches_of_one_product_interleave_safely(
    api, client, admin_headers, orders_stream, catalog_stream
) -> None:
    """PATCHes (no If-Match) and reservations race for the product's next sequence:
    none fails, and the product's events are one unbroken sequence."""
    product = await api.product((await api.category())["id"], sku="RACE", stock=100)
    url = f"/api/v1/products/{product['id']}"
    order_ids = [new_event_id() for _ in range(20)]

    async def patch(i: int) -> int:
        return (await client.patch(url, json={"name": f"n{i}"}, headers=admin_headers)).status_code

    publishing = [
        orders_stream(order_envelope(order_history.OrderPlacedV1, oid, [(product["id"], 1)], 1))
        for oid in order_ids
    ]
    statuses = (await asyncio.gather(*publishing, *(patch(i) for i in range(20))))[20:]
    assert statuses == [200] * 20

    async def all_reserved() -> bool:
        events = await catalog_stream.envelopes()
        return sum(e.type == "catalog.stock.reserved" for e in events) == 20

    await wait_for(all_reserved, within=30, what="20 reservations")
    events = [e for e in await catalog_stream.envelopes() if e.subject == product["id"]]
    assert [e.sequence for e in events] == list(range(1, 42))
    final = (await client.get(url)).json()
    assert (final["stock"], final["version"]) == (80, 41)


async def test_a_joined_unit_of_work_rolls_back_with_its_owner(api, engine: AsyncEngine) -> None:
    product = await api.product((await api.category())["id"], sku="J", stock=3)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session, session.begin():
        ok = await handlers.reserve_stock(
            handlers.ReserveStock(new_event_id(), [(UUID(product["id"]), 2)]),
            CatalogUnitOfWork.joining(session),
        )
        assert ok
        stock = await session.execute(
            text("SELECT stock FROM catalog.products WHERE id = :id"), {"id": product["id"]}
        )
        assert stock.scalar_one() == 1
        await session.rollback()
    async with AsyncSession(engine) as session:
        row = (
            await session.execute(
                text(
                    "SELECT p.stock, (SELECT count(*) FROM catalog.events e"
                    " WHERE e.subject = :sid) AS events FROM catalog.products p WHERE p.id = :id"
                ),
                {"id": product["id"], "sid": product["id"]},
            )
        ).one()
    assert (row.stock, row.events) == (3, 1)
