"""The cart end to end: catalog, orders and notifier as processes. Lines are checked and
priced when they are added, in the catalog's words; a price change shows on the cart and
stops a checkout at the old total; two checkouts of one cart give one order; a checkout
the stock saga rejects gives its lines back to the cart."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.catalog.tests.bikes import MOUNTAIN_NEEDS_SUSPENSION, build_bike, preset
from services.orders.tests.stack import SECRET, Shop, Stack, wait_read_model
from tests.support.auth import customer_headers
from tests.support.servers import wait_for

BUILD = ("Full suspension", "Matte", "Mountain", "Black", "8-speed")
ADDRESS = {
    "name": "Ada Lovelace",
    "lines": ["12 Rue de Rivoli"],
    "city": "Paris",
    "postal_code": "75001",
    "country": "FR",
}


def customer(subject: str, email: str | None = None) -> dict[str, str]:
    """A customer's token with a verified e-mail claim (as an identity provider gives)."""
    return customer_headers(subject, secret=SECRET, email=email or f"{subject}@example.com")


async def _category(shop: Shop, slug: str) -> str:
    response = await shop.catalog.post(
        "/api/v1/categories", json={"slug": slug, "name": slug}, headers=shop.admin
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _add(
    shop: Shop, who: str, product_id: str, quantity: Any, *options: str
) -> httpx.Response:
    body: dict[str, Any] = {"product_id": product_id, "quantity": quantity}
    if options:
        body["options"] = list(options)
    return await shop.orders.post("/api/v1/cart/lines", json=body, headers=customer(who))


async def _cart(shop: Shop, who: str) -> dict[str, Any]:
    response = await shop.orders.get("/api/v1/cart", headers=customer(who))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _checkout(
    shop: Shop, who: str, expected: str, *, key: str = "", **extra: Any
) -> httpx.Response:
    headers = customer(who) | ({"Idempotency-Key": key} if key else {})
    body = {"address": ADDRESS, "expected_total": expected} | extra
    return await shop.orders.post("/api/v1/cart/checkout", json=body, headers=headers)


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return dict(response.json())


async def test_simple_and_configured_lines_at_the_catalogs_prices(stack: Stack, shop: Shop) -> None:
    category = await _category(shop, "bicycles")
    bike = await build_bike(shop.catalog, shop.admin, category, stock=5)
    trail = await preset(shop.catalog, shop.admin, category, bike, *BUILD)
    assert trail.status_code == 201, trail.text
    bell = await shop.product(sku="BELL-1", price="12.50", stock=10, name="Bell")
    await wait_read_model(stack.database_url, bike.id, trail.json()["id"], bell["id"])

    assert (await _add(shop, "alice", bell["id"], 2)).status_code == 201
    configured = await _add(shop, "alice", bike.id, 1, *bike.ids(*BUILD))
    assert configured.status_code == 201, configured.text
    assert (await _add(shop, "alice", trail.json()["id"], 1)).status_code == 201
    merged = await _add(shop, "alice", bell["id"], 1)
    assert merged.status_code == 200  # the same product again: one line, 3 bells

    cart = await _cart(shop, "alice")
    bells, bikes, trails = cart["lines"]
    assert (bells["quantity"], bells["unit_price"], bells["line_total"]) == (3, "12.50", "37.50")
    # The catalog's quote: 400 + 130 + 50 (Matte with Full suspension) + 95 + 10 + 48
    quote = await shop.catalog.post(
        f"/api/v1/products/{bike.id}/quote", json={"options": bike.ids(*BUILD)}
    )
    assert bikes["unit_price"] == quote.json()["unit_price"] == "733.00"
    matte = next(o for o in bikes["options"] if o["name"] == "Matte")
    assert (matte["part"], matte["price"]) == ("Frame finish", "50.00")
    assert (trails["unit_price"], trails["options"]) == ("849.00", [])
    assert (cart["total"], cart["currency"]) == ("1619.50", "EUR")
    assert all(line["available"] and line["changed"] == [] for line in cart["lines"])

    patched = await shop.orders.patch(
        f"/api/v1/cart/lines/{bells['line_id']}", json={"quantity": 1}, headers=customer("alice")
    )
    assert patched.status_code == 200 and patched.json()["lines"][0]["quantity"] == 1
    removed = await shop.orders.delete(
        f"/api/v1/cart/lines/{trails['line_id']}", headers=customer("alice")
    )
    assert [line["sku"] for line in removed.json()["lines"]] == ["BELL-1", "BIKE-1"]

    # Owner only: anonymous is 401; bob sees his own (empty) cart and cannot touch alice's.
    assert (await shop.orders.get("/api/v1/cart")).status_code == 401
    assert (await _cart(shop, "bob"))["lines"] == []
    for method, path, body in (
        ("PATCH", f"/api/v1/cart/lines/{bells['line_id']}", {"quantity": 2}),
        ("DELETE", f"/api/v1/cart/lines/{bells['line_id']}", None),
    ):
        response = await shop.orders.request(method, path, json=body, headers=customer("bob"))
        _problem(response, 404)
    assert len((await _cart(shop, "alice"))["lines"]) == 2

    reminders = await shop.orders.put(
        "/api/v1/cart/reminders", json={"enabled": False}, headers=customer("alice")
    )
    assert reminders.status_code == 200 and reminders.json()["reminders"] is False
    cleared = await shop.orders.delete("/api/v1/cart", headers=customer("alice"))
    assert (cleared.json()["lines"], cleared.json()["total"]) == ([], "0.00")


async def test_what_cannot_be_bought_is_refused_when_added(stack: Stack, shop: Shop) -> None:
    category = await _category(shop, "bicycles")
    bike = await build_bike(shop.catalog, shop.admin, category, stock=5)
    bell = await shop.product(sku="BELL-2", price="12.50", stock=3, name="Bell")
    gone = await shop.product(sku="GONE-1", price="1.00", stock=3)
    await wait_read_model(stack.database_url, bike.id, bell["id"], gone["id"])
    deleted = await shop.catalog.delete(f"/api/v1/products/{gone['id']}", headers=shop.admin)
    assert deleted.status_code == 204

    unknown = _problem(await _add(shop, "eve", "00000000-0000-7000-8000-000000000000", 1), 422)
    assert unknown["errors"][0]["loc"] == ["body", "product_id"]

    async def refused_as_deleted() -> bool:
        response = await _add(shop, "eve", gone["id"], 1)
        return response.status_code == 422 and response.json()["errors"][0]["loc"] == [
            "body",
            "product_id",
        ]

    await wait_for(refused_as_deleted, within=30, what="the deletion in the read model")

    # A broken rule: the rule's own words, as the catalog's quote says them.
    build = bike.ids("Diamond", "Shiny", "Mountain", "Single-speed")
    incompatible = _problem(await _add(shop, "eve", bike.id, 1, *build), 422)
    quote = await shop.catalog.post(f"/api/v1/products/{bike.id}/quote", json={"options": build})
    assert quote.status_code == 422
    [error] = incompatible["errors"]
    assert error["msg"] == MOUNTAIN_NEEDS_SUSPENSION == quote.json()["errors"][0]["msg"]
    assert (error["type"], error["rule_id"]) == ("incompatible", bike.incompatibilities[0])

    no_chain = bike.ids("Diamond", "Shiny", "Road")
    lacking = _problem(await _add(shop, "eve", bike.id, 1, *no_chain), 422)
    assert [e["msg"] for e in lacking["errors"]] == ["Chain is required"]

    too_many = _problem(await _add(shop, "eve", bell["id"], 4), 422)
    [short] = too_many["errors"]
    assert (short["loc"], short["available"], short["requested"]) == (["body", "quantity"], 3, 4)
    assert short["msg"] == "only 3 of Bell left (4 asked for)"

    for quantity in ("1", True, 1.0, 0):
        _problem(await _add(shop, "eve", bell["id"], quantity), 422)
    priced = {"product_id": bell["id"], "quantity": 1, "unit_price": "0.01"}
    response = await shop.orders.post("/api/v1/cart/lines", json=priced, headers=customer("eve"))
    _problem(response, 422)
    assert (await _cart(shop, "eve"))["lines"] == []


async def test_a_price_change_shows_and_a_checkout_needs_the_new_total(
    stack: Stack, shop: Shop
) -> None:
    bell = await shop.product(sku="BELL-3", price="10.00", stock=10, name="Bell")
    await wait_read_model(stack.database_url, bell["id"])
    assert (await _add(shop, "alice", bell["id"], 2)).status_code == 201
    assert (await _cart(shop, "alice"))["total"] == "20.00"

    changed = await shop.catalog.patch(
        f"/api/v1/products/{bell['id']}", json={"price": "11.00"}, headers=shop.admin
    )
    assert changed.status_code == 200, changed.text

    async def flagged() -> dict[str, Any] | None:
        cart = await _cart(shop, "alice")
        return cart if cart["lines"][0]["changed"] == ["price"] else None

    cart = await wait_for(flagged, within=30, what="the new price on the cart")
    line = cart["lines"][0]
    assert (line["added_unit_price"], line["unit_price"], cart["total"]) == (
        "10.00",
        "11.00",
        "22.00",
    )

    stale = _problem(await _checkout(shop, "alice", "20.00", key="pay-1"), 409)
    assert (stale["total"], stale["cart"]["total"]) == ("22.00", "22.00")
    assert stale["cart"]["lines"][0]["unit_price"] == "11.00"
    assert (await _cart(shop, "alice"))["lines"]  # nothing changed

    for body in (
        {"address": ADDRESS | {"country": "XX"}},
        {"address": ADDRESS | {"country": "fr"}},
        {"address": {k: v for k, v in ADDRESS.items() if k != "city"}},
        {"email": "someone-else@example.com"},
        {"total": "22.00"},
    ):
        _problem(await _checkout(shop, "alice", "22.00", **body), 422)

    placed = await _checkout(shop, "alice", "22.00", key="pay-1")
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert placed.headers["location"] == f"/api/v1/orders/{order['id']}"
    assert (order["total"], order["email"], order["address"]) == (
        "22.00",
        "alice@example.com",
        ADDRESS,
    )
    assert order["cart_id"] == (await _cart(shop, "alice"))["id"]
    assert (await _cart(shop, "alice"))["lines"] == []
    replay = await _checkout(shop, "alice", "22.00", key="pay-1")
    assert (replay.status_code, replay.json()["id"]) == (200, order["id"])
    confirmed = await shop.wait_status("alice", order["id"], "confirmed")
    assert confirmed["address"] == ADDRESS
    _problem(await _checkout(shop, "alice", "0.00"), 409)  # empty cart


async def test_two_checkouts_of_one_cart_at_once_give_one_order(stack: Stack, shop: Shop) -> None:
    second = stack.start("orders")
    await second.ready()
    bell = await shop.product(sku="BELL-4", price="3.00", stock=50, name="Bell")
    await wait_read_model(stack.database_url, bell["id"])
    assert (await _add(shop, "carol", bell["id"], 2)).status_code == 201
    replicas = [shop.orders, httpx.AsyncClient(base_url=second.url, timeout=30)]
    try:

        async def pay(i: int, key: str) -> httpx.Response:
            headers = customer("carol") | {"Idempotency-Key": key}
            body = {"address": ADDRESS, "expected_total": "6.00"}
            return await replicas[i % 2].post("/api/v1/cart/checkout", json=body, headers=headers)

        answers = await asyncio.gather(*(pay(i, f"tab-{i}") for i in range(6)))
    finally:
        await replicas[1].aclose()
    assert sorted(r.status_code for r in answers) == [201] + [409] * 5
    engine = create_async_engine(stack.database_url)
    try:
        async with engine.connect() as conn:
            orders = (
                await conn.execute(
                    text("SELECT count(*) FROM orders.orders WHERE customer = 'carol'")
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    assert orders == 1


async def test_a_rejected_checkout_gives_its_lines_back_with_the_reason(
    stack: Stack, shop: Shop
) -> None:
    """Two customers buy the last bell while the catalog is down (the orders read model
    still says 1 in stock): the saga confirms one order and rejects the other, whose
    lines come back into that customer's cart with the catalog's reason."""
    bell = await shop.product(sku="BELL-5", price="7.00", stock=1, name="Bell")
    await wait_read_model(stack.database_url, bell["id"])
    for who in ("dan", "erin"):
        assert (await _add(shop, who, bell["id"], 1)).status_code == 201
    stack.first("catalog").stop()
    placed = {who: await _checkout(shop, who, "7.00") for who in ("dan", "erin")}
    assert all(r.status_code == 201 for r in placed.values()), placed
    await stack.start("catalog").ready()

    finals = {
        who: await shop.wait_status(who, r.json()["id"], "confirmed", "rejected")
        for who, r in placed.items()
    }
    assert sorted(order["status"] for order in finals.values()) == ["confirmed", "rejected"]
    loser = next(who for who, order in finals.items() if order["status"] == "rejected")
    winner = next(who for who in finals if who != loser)

    async def restored() -> dict[str, Any] | None:
        cart = await _cart(shop, loser)
        return cart if cart["lines"] else None

    cart = await wait_for(restored, within=30, what="the rejected lines back in the cart")
    [line] = cart["lines"]
    assert (line["product_id"], line["quantity"]) == (bell["id"], 1)
    assert line["note"] == "Not ordered: Bell is out of stock"
    assert (await _cart(shop, winner))["lines"] == []
