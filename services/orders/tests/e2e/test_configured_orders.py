"""Orders for configurable and preconfigured products, end to end: catalog, orders and
notifier as processes. The order records the catalog's prices; a client's price is
refused; the options' stock is reserved all or nothing and released on cancel."""

from __future__ import annotations

import asyncio
from collections import Counter

import redis.asyncio as aioredis

from marcus_contracts import STREAM_FIELD, Envelope, StreamNames
from services.catalog.tests.bikes import MOUNTAIN_NEEDS_SUSPENSION, build_bike, preset
from services.orders.tests.stack import MailCatcher, Shop, Stack, token, wait_read_model
from tests.support.servers import wait_for

BUILD = ("Full suspension", "Matte", "Mountain", "Black", "8-speed")


async def _category(shop: Shop, slug: str) -> str:
    response = await shop.catalog.post(
        "/api/v1/categories", json={"slug": slug, "name": slug}, headers=shop.admin
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _option_stock(shop: Shop, product_id: str) -> dict[str, int]:
    detail = (await shop.catalog.get(f"/api/v1/products/{product_id}")).json()
    return {o["name"]: o["stock"] for part in detail["parts"] for o in part["options"]}


async def test_a_configured_order_is_confirmed_at_the_catalogs_prices(
    stack: Stack, shop: Shop, mail: MailCatcher
) -> None:
    category = await _category(shop, "bicycles")
    bike = await build_bike(shop.catalog, shop.admin, category, stock=5)
    trail = await preset(shop.catalog, shop.admin, category, bike, *BUILD)
    assert trail.status_code == 201, trail.text
    trail_id = trail.json()["id"]
    await wait_read_model(stack.database_url, bike.id, trail_id)

    placed = await shop.place("alice", [(bike.id, 2, bike.ids(*BUILD)), (trail_id, 1)])
    assert placed.status_code == 201, placed.text
    pending = placed.json()
    configured, preconfigured = pending["lines"]
    assert (configured["kind"], configured["unit_price"], configured["line_total"]) == (
        "configurable",
        None,
        None,
    )
    assert [o["option_id"] for o in configured["options"]] == bike.ids(*BUILD)
    assert preconfigured["unit_price"] == "849.00"  # its published price, as an estimate
    assert pending["total"] is None  # not known until the catalog priced the bike

    confirmed = await shop.wait_status("alice", pending["id"], "confirmed")
    configured, preconfigured = confirmed["lines"]
    # 400 + 130 + 50 (Matte with Full suspension) + 95 + 10 + 48
    assert (configured["unit_price"], configured["line_total"]) == ("733.00", "1466.00")
    matte = next(o for o in configured["options"] if o["name"] == "Matte")
    assert (matte["part"], matte["price"]) == ("Frame finish", "50.00")
    assert matte["price_rule_id"] == bike.price_rules[("Matte", "Full suspension")]
    assert [o["name"] for o in preconfigured["options"]] == list(BUILD)
    assert confirmed["total"] == "2315.00"  # the catalog's total: 1466.00 + 849.00
    stock = await _option_stock(shop, bike.id)  # 2 configured + 1 preconfigured bikes
    assert {name: stock[name] for name in BUILD} == dict.fromkeys(BUILD, 2)
    assert (stock["Diamond"], stock["Road"]) == (5, 5)

    await wait_for(lambda: len(mail.mailbox.unique()) >= 1, within=30, what="confirmation mail")
    [received] = mail.mailbox.read()
    text = mail.mailbox.message(received).get_body(("plain",)).get_content()
    assert "2 x Custom bicycle (BIKE-1) at EUR 733.00 = EUR 1,466.00" in text
    assert "Frame finish: Matte (EUR 50.00)" in text
    assert "Order total: EUR 2,315.00" in text

    cancel = await shop.orders.post(
        f"/api/v1/orders/{pending['id']}/cancel", headers=token("alice")
    )
    assert cancel.status_code == 200, cancel.text

    async def restocked() -> bool:
        return set((await _option_stock(shop, bike.id)).values()) == {5}

    await wait_for(restocked, within=30, what="the options released")


async def test_a_configuration_breaking_a_rule_is_rejected_with_the_rules_message(
    stack: Stack, shop: Shop, mail: MailCatcher
) -> None:
    bike = await build_bike(shop.catalog, shop.admin, await _category(shop, "bicycles"))
    await wait_read_model(stack.database_url, bike.id)
    build = bike.ids("Diamond", "Shiny", "Mountain", "Single-speed")

    placed = await shop.place("bob", [(bike.id, 1, build)])
    assert placed.status_code == 201, placed.text
    rejected = await shop.wait_status("bob", placed.json()["id"], "rejected")

    [reason] = rejected["reasons"]
    assert (reason["reason"], reason["message"], reason["line"]) == (
        "invalid_configuration",
        MOUNTAIN_NEEDS_SUSPENSION,
        0,
    )
    assert rejected["total"] is None and rejected["lines"][0]["unit_price"] is None
    await wait_for(lambda: len(mail.mailbox.unique()) >= 1, within=30, what="rejection mail")
    [received] = mail.mailbox.read()
    text = mail.mailbox.message(received).get_body(("plain",)).get_content()
    assert f"Custom bicycle: {MOUNTAIN_NEEDS_SUSPENSION}" in text


async def test_a_client_supplied_price_is_refused_and_nothing_is_ordered(
    stack: Stack, shop: Shop
) -> None:
    bike = await build_bike(shop.catalog, shop.admin, await _category(shop, "bicycles"))
    plain = await shop.product(sku="PLAIN-1", price="5.00", stock=10)
    await wait_read_model(stack.database_url, bike.id, plain["id"])
    line = {"product_id": bike.id, "quantity": 1, "options": bike.ids(*BUILD)}

    for body in (
        {"email": "eve@example.com", "lines": [line | {"unit_price": "1.00"}]},
        {"email": "eve@example.com", "lines": [line | {"price": "1.00"}]},
        {"email": "eve@example.com", "lines": [line], "total": "1.00"},
        {"email": "eve@example.com", "lines": [line | {"line_total": "1.00"}]},
        {
            "email": "eve@example.com",
            "lines": [{"product_id": plain["id"], "quantity": 1, "options": bike.ids("Road")}],
        },
    ):
        response = await shop.orders.post("/api/v1/orders", json=body, headers=token("eve"))
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"]
    listed = await shop.orders.get("/api/v1/orders", headers=token("eve"))
    assert listed.json()["items"] == []


async def test_thirty_concurrent_orders_for_configurations_sharing_five_units(
    stack: Stack, shop: Shop, redis_url: str, stream_prefix: str
) -> None:
    """Thirty customers, two catalog and two orders replicas, every configuration with
    red rims (5 in stock): exactly 5 orders are confirmed; no option stock goes below
    zero."""
    for service in ("catalog", "orders"):
        await stack.start(service).ready()
    bike = await build_bike(
        shop.catalog, shop.admin, await _category(shop, "bicycles"), stock=100, stocks={"Red": 5}
    )
    await wait_read_model(stack.database_url, bike.id)
    frames = ("Diamond", "Full suspension", "Step-through")
    replicas = [p.url for p in stack.processes if p.service == "orders"]

    async def buy(i: int) -> str:
        build = bike.ids(frames[i % 3], ("Matte", "Shiny")[i % 2], "Road", "Red", "8-speed")
        client = Shop(stack.first("catalog").url, replicas[i % 2])
        try:
            response = await client.place(f"rider-{i:02d}", [(bike.id, 1, build)])
        finally:
            await client.aclose()
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    order_ids = await asyncio.gather(*(buy(i) for i in range(30)))
    finals = await asyncio.gather(
        *(
            shop.wait_status(f"rider-{i:02d}", order_id, "confirmed", "rejected", within=120)
            for i, order_id in enumerate(order_ids)
        )
    )

    assert Counter(order["status"] for order in finals) == {"confirmed": 5, "rejected": 25}
    for order in finals:
        if order["status"] == "confirmed":
            assert order["total"] is not None and order["lines"][0]["unit_price"] is not None
        else:
            [reason] = order["reasons"]
            assert (reason["reason"], reason["option_id"]) == (
                "insufficient_stock",
                bike.options["Red"],
            )
    assert (await _option_stock(shop, bike.id))["Red"] == 0

    redis = aioredis.from_url(redis_url)
    try:
        entries = await redis.xrange(StreamNames(stream_prefix).events("catalog"))
    finally:
        await redis.aclose()
    events = list(
        {
            e.id: e for e in (Envelope.from_json(f[STREAM_FIELD.encode()]) for _, f in entries)
        }.values()
    )
    reserved = [e for e in events if e.type == "catalog.option_stock.reserved"]
    assert len(reserved) == 5
    assert all(s["stock"] >= 0 for e in reserved for s in e.data["stocks"])
    sequences = [e.sequence for e in events if e.subject == bike.id]
    assert sequences == list(range(1, len(sequences) + 1))
