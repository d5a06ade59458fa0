"""The stock saga with configurations: the catalog checks, prices and reserves every
line of a placed order (option stock for configurations and preconfigured products),
answers with the priced lines, and releases the options when the order is cancelled.

The catalog app (API + relay + saga consumer) runs on a real socket; order events go in
on `events.orders` as the orders service would publish them."""

from __future__ import annotations

import asyncio
from collections import Counter
from uuid import UUID

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog.main import create_app
from marcus_contracts import Envelope, new_event_id
from marcus_contracts.events import orders as order_events
from services.catalog.tests.bikes import build_bike, preset
from services.catalog.tests.support import CatalogApi, placed, projections_rebuild_unchanged
from tests.support.servers import serve_app, wait_for


async def answer(catalog_stream, order_id: UUID, within: float = 30) -> Envelope:
    async def found() -> Envelope | None:
        for e in await catalog_stream.envelopes():
            if e.subject == str(order_id) and e.type in (
                "catalog.stock.allocated",
                "catalog.stock.rejected",
            ):
                return e
        return None

    return await wait_for(found, within=within, what=f"the answer to order {order_id}")


async def test_a_configured_order_is_priced_reserved_and_released(
    api, client, admin_headers, orders_stream, catalog_stream, engine: AsyncEngine
) -> None:
    category = (await api.category())["id"]
    bike = await build_bike(client, admin_headers, category, stock=5)
    trail = (
        await preset(
            client, admin_headers, category, bike, "Full suspension", "Matte", "Mountain", "8-speed"
        )
    ).json()
    bell = await api.product(category, sku="BELL", price="12.50", stock=7)
    order_id = new_event_id()
    build = bike.ids("Full suspension", "Matte", "Mountain", "Red", "Single-speed")
    lines: list[tuple[str, int, list[str]]] = [
        (bike.id, 2, build),
        (trail["id"], 1, []),
        (bell["id"], 3, []),
    ]

    await orders_stream(placed(order_id, lines))
    allocated = await answer(catalog_stream, order_id)

    assert allocated.type == "catalog.stock.allocated", allocated.data
    configured, preconfigured, simple = allocated.data["lines"]
    # 400 + 130 + 50 (Matte with Full suspension) + 95 + 15 + 43 = 733.00
    assert (configured["unit_price"], configured["line_total"]) == ("733.00", "1466.00")
    assert [o["name"] for o in configured["options"]] == [
        "Full suspension",
        "Matte",
        "Mountain",
        "Red",
        "Single-speed",
    ]
    assert (
        configured["options"][1]["price_rule_id"] == bike.price_rules[("Matte", "Full suspension")]
    )
    assert (preconfigured["unit_price"], preconfigured["kind"]) == ("849.00", "preconfigured")
    assert (simple["unit_price"], simple["line_total"]) == ("12.50", "37.50")
    assert allocated.data["total"] == "2352.50"

    detail = (await client.get(f"/api/v1/products/{bike.id}")).json()
    stock = {o["name"]: o["stock"] for part in detail["parts"] for o in part["options"]}
    assert (stock["Full suspension"], stock["Mountain"], stock["Matte"]) == (2, 2, 2)
    assert (stock["Red"], stock["Single-speed"], stock["8-speed"], stock["Diamond"]) == (3, 3, 4, 5)
    trail_now = (await client.get(f"/api/v1/products/{trail['id']}")).json()
    assert trail_now["stock"] == 2  # its scarcest option now
    assert (await client.get(f"/api/v1/products/{bell['id']}")).json()["stock"] == 4

    # Cancel: every option unit comes back, once; the preconfigured product follows.
    cancelled = placed(order_id, lines, order_events.OrderCancelled, sequence=3)
    await orders_stream(cancelled)
    await orders_stream(cancelled)

    async def released() -> bool:
        events = await catalog_stream.envelopes()
        return any(e.type == "catalog.option_stock.released" for e in events) and any(
            e.type == "catalog.stock.released" for e in events
        )

    await wait_for(released, within=30, what="options and the bell released")
    detail = (await client.get(f"/api/v1/products/{bike.id}")).json()
    assert {o["stock"] for part in detail["parts"] for o in part["options"]} == {5}
    assert (await client.get(f"/api/v1/products/{trail['id']}")).json()["stock"] == 5
    events = await catalog_stream.envelopes()
    assert sum(e.type == "catalog.option_stock.released" for e in events) == 1

    # The projections rebuild from the events to the same state.
    await projections_rebuild_unchanged(
        engine, "products", "options", "option_reservations", "reservations", "preset_options"
    )


async def test_thirty_concurrent_orders_sharing_an_option_with_five_units_five_succeed(
    api, client, admin_headers, settings, orders_stream, catalog_stream, redis_client, stream_prefix
) -> None:
    """Two catalog replicas (two consumers of the group) race for 5 red rims."""
    category = (await api.category())["id"]
    bike = await build_bike(client, admin_headers, category, stock=100, stocks={"Red": 5})
    frames, wheels = ("Diamond", "Full suspension", "Step-through"), ("Road", "Fat bike")
    configurations = [
        bike.ids(frames[i % 3], ("Matte", "Shiny")[i % 2], wheels[i % 2], "Red", "8-speed")
        for i in range(30)
    ]
    # Fat bike + Red is incompatible: keep every configuration valid, only stock decides.
    configurations = [
        c if bike.options["Fat bike"] not in c else [*c[:2], bike.options["Road"], *c[3:]]
        for c in configurations
    ]
    order_ids = [new_event_id() for _ in range(30)]

    async with serve_app(create_app(settings)):  # the second replica
        await asyncio.gather(
            *(
                orders_stream(placed(order_id, [(bike.id, 1, configuration)]))
                for order_id, configuration in zip(order_ids, configurations, strict=True)
            )
        )
        answers = await asyncio.gather(*(answer(catalog_stream, o, within=90) for o in order_ids))

    assert Counter(a.type for a in answers) == {
        "catalog.stock.allocated": 5,
        "catalog.stock.rejected": 25,
    }
    for rejected in (a for a in answers if a.type == "catalog.stock.rejected"):
        [refusal] = rejected.data["lines"]
        assert (refusal["reason"], refusal["option_id"]) == (
            "insufficient_stock",
            bike.options["Red"],
        )
        assert refusal["available"] == 0 and refusal["message"] == "Red is out of stock"

    events = [e for e in await catalog_stream.envelopes() if e.subject == bike.id]
    reserved = [e for e in events if e.type == "catalog.option_stock.reserved"]
    assert len(reserved) == 5
    red_stock = [
        next(s["stock"] for s in e.data["stocks"] if s["option_id"] == bike.options["Red"])
        for e in reserved
    ]
    assert red_stock == [4, 3, 2, 1, 0]  # in sequence order, never below zero
    assert all(s["stock"] >= 0 for e in reserved for s in e.data["stocks"])
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    detail = (await client.get(f"/api/v1/products/{bike.id}")).json()
    red = next(o for p in detail["parts"] for o in p["options"] if o["name"] == "Red")
    assert (red["stock"], red["in_stock"]) == (0, False)


async def test_an_option_deleted_while_an_order_is_pending_rejects_the_order(
    engine, admin_headers, settings, orders_stream, catalog_stream
) -> None:
    idle = settings.model_copy(update={"consumer_enabled": False})
    async with serve_app(create_app(idle)) as url, httpx.AsyncClient(base_url=url) as client:
        category = (await CatalogApi(client, admin_headers).category())["id"]
        bike = await build_bike(client, admin_headers, category)
        build = bike.ids("Full suspension", "Matte", "Mountain", "Blue", "8-speed")
        quote = await client.post(f"/api/v1/products/{bike.id}/quote", json={"options": build})
        assert quote.status_code == 200

        # The order is placed and pending (no catalog consumes events.orders yet)...
        order_id = new_event_id()
        await orders_stream(placed(order_id, [(bike.id, 1, build)]))
        gone = await client.delete(
            f"/api/v1/products/{bike.id}/options/{bike.options['Blue']}", headers=admin_headers
        )
        assert gone.status_code == 204

    # ...and refused when the catalog checks it: nothing reserved.
    async with serve_app(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as client:
        rejected = await answer(catalog_stream, order_id)
        assert rejected.type == "catalog.stock.rejected"
        [refusal] = rejected.data["lines"]
        assert (refusal["reason"], refusal["option_id"], refusal["line"]) == (
            "invalid_configuration",
            bike.options["Blue"],
            0,
        )
        assert refusal["message"].startswith(f"option {bike.options['Blue']} is not offered")
        detail = (await client.get(f"/api/v1/products/{bike.id}")).json()
        assert {o["stock"] for part in detail["parts"] for o in part["options"]} == {10}
        assert not any(
            e.type.startswith("catalog.option_stock") for e in await catalog_stream.envelopes()
        )
