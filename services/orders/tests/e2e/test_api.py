"""The orders API over real processes: Idempotency-Key, who sees what, bad input."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as aioredis

from marcus_contracts import StreamNames
from services.orders.tests.stack import MailCatcher, Shop, Stack, token, wait_read_model
from tests.support.databases import query_rows


async def _counts(database_url: str) -> tuple[int, int, int]:
    [row] = await query_rows(
        database_url,
        "SELECT (SELECT count(*) FROM orders.events),"
        " (SELECT count(*) FROM orders.orders),"
        " (SELECT count(*) FROM orders.idempotency_keys)",
    )
    return int(row[0]), int(row[1]), int(row[2])


async def test_idempotency_key_returns_the_same_order(stack: Stack, shop: Shop) -> None:
    product = await shop.product(sku="IDEM-1", price="5.00", stock=100)
    await wait_read_model(stack.database_url, product["id"])
    lines = [(product["id"], 2)]

    first = await shop.place("alice", lines, key="checkout-1")
    assert first.status_code == 201, first.text
    again = await shop.place("alice", lines, key="checkout-1")
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]

    other_body = await shop.place("alice", [(product["id"], 3)], key="checkout-1")
    assert other_body.status_code == 409
    assert "different request body" in other_body.json()["detail"]

    # Keys are per customer: bob's "checkout-1" is his own.
    bobs = await shop.place("bob", lines, key="checkout-1")
    assert bobs.status_code == 201 and bobs.json()["id"] != first.json()["id"]

    # Ten concurrent requests with one key: one order, every answer names it.
    responses = await asyncio.gather(
        *(shop.place("carol", lines, key="double-click") for _ in range(10))
    )
    assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
    assert len({r.json()["id"] for r in responses}) == 1

    events, orders, keys = await _counts(stack.database_url)
    assert (orders, keys) == (3, 3)
    assert events >= 3


async def test_customers_see_only_their_own_orders(stack: Stack, shop: Shop) -> None:
    product = await shop.product(sku="OWN-1", price="1.00", stock=100)
    await wait_read_model(stack.database_url, product["id"])
    alices = [(await shop.place("alice", [(product["id"], 1)])).json()["id"] for _ in range(3)]
    bobs = (await shop.place("bob", [(product["id"], 1)])).json()["id"]
    await shop.wait_status("alice", alices[0], "confirmed")

    # Bob cannot read, cancel or list Alice's orders; the answer does not even say
    # that they exist.
    assert (await shop.order("bob", alices[0])).status_code == 404
    cancel = await shop.orders.post(f"/api/v1/orders/{alices[0]}/cancel", headers=token("bob"))
    assert cancel.status_code == 404
    assert (await shop.order("alice", alices[0])).json()["status"] == "confirmed"
    listed = (await shop.orders.get("/api/v1/orders", headers=token("bob"))).json()
    assert [order["id"] for order in listed["items"]] == [bobs]
    assert (await shop.order("bob", str(uuid.uuid4()))).status_code == 404

    # Alice pages through her own, newest first.
    page1 = (await shop.orders.get("/api/v1/orders?limit=2", headers=token("alice"))).json()
    assert [o["id"] for o in page1["items"]] == alices[::-1][:2]
    page2 = (
        await shop.orders.get(
            f"/api/v1/orders?limit=2&cursor={page1['next_cursor']}", headers=token("alice")
        )
    ).json()
    assert [o["id"] for o in page2["items"]] == [alices[0]] and page2["next_cursor"] is None
    # A cursor the API did not return is 422 naming it, as any invalid query parameter.
    for cursor in ("%%%", page1["next_cursor"] + "==", alices[0]):
        bad = await shop.orders.get(
            "/api/v1/orders", params={"cursor": cursor}, headers=token("alice")
        )
        assert bad.status_code == 422, cursor
        assert bad.headers["content-type"] == "application/problem+json"
        assert [error["loc"] for error in bad.json()["errors"]] == [["query", "cursor"]]

    # An admin may read and ship anyone's order; a customer may not ship.
    assert (await shop.order("ops-admin", alices[0])).status_code == 404
    admin_read = await shop.orders.get(f"/api/v1/orders/{alices[0]}", headers=shop.admin)
    assert admin_read.status_code == 200
    ship_url = f"/api/v1/orders/{alices[0]}/ship"
    assert (await shop.orders.post(ship_url, headers=token("alice"))).status_code == 403
    shipped = await shop.orders.post(ship_url, headers=shop.admin)
    assert shipped.status_code == 200 and shipped.json()["status"] == "shipped"
    too_late = await shop.orders.post(f"/api/v1/orders/{alices[0]}/cancel", headers=token("alice"))
    assert too_late.status_code == 409
    assert (await shop.orders.get("/api/v1/orders")).status_code == 401


async def test_invalid_orders_write_nothing_and_emit_nothing(
    stack: Stack, shop: Shop, mail: MailCatcher, redis_url: str, stream_prefix: str
) -> None:
    product = await shop.product(sku="VAL-1", price="2.50", stock=10)
    deleted = await shop.product(sku="VAL-GONE", price="1.00", stock=10)
    await wait_read_model(stack.database_url, product["id"], deleted["id"])
    gone = await shop.catalog.delete(f"/api/v1/products/{deleted['id']}", headers=shop.admin)
    assert gone.status_code == 204
    before = await _counts(stack.database_url)
    redis = aioredis.from_url(redis_url)
    stream = StreamNames(stream_prefix).events("orders")
    stream_before = int(await redis.xlen(stream))

    good_line = {"product_id": product["id"], "quantity": 1}
    cases = {
        "negative quantity": (
            {"email": "a@example.com", "lines": [{"product_id": product["id"], "quantity": -1}]},
            ["body", "lines", "0", "quantity"],
        ),
        "zero quantity": (
            {"email": "a@example.com", "lines": [{"product_id": product["id"], "quantity": 0}]},
            ["body", "lines", "0", "quantity"],
        ),
        "empty lines": ({"email": "a@example.com", "lines": []}, ["body", "lines"]),
        "10,000 lines": (
            {"email": "a@example.com", "lines": [good_line] * 10_000},
            ["body", "lines"],
        ),
        "unknown product": (
            {
                "email": "a@example.com",
                "lines": [good_line, {"product_id": str(uuid.uuid4()), "quantity": 1}],
            },
            ["body", "lines", "1", "product_id"],
        ),
        "deleted product": (
            {"email": "a@example.com", "lines": [{"product_id": deleted["id"], "quantity": 1}]},
            ["body", "lines", "0", "product_id"],
        ),
        "bad e-mail": ({"email": "not-an-address", "lines": [good_line]}, ["body", "email"]),
        "no e-mail": ({"lines": [good_line]}, ["body", "email"]),
        "same product twice": (
            {"email": "a@example.com", "lines": [good_line, good_line]},
            ["body", "lines"],
        ),
        "not a uuid": (
            {"email": "a@example.com", "lines": [{"product_id": "x", "quantity": 1}]},
            ["body", "lines", "0", "product_id"],
        ),
        "unknown field": (
            {"email": "a@example.com", "lines": [good_line], "discount": "100%"},
            ["body", "discount"],
        ),
    }
    try:
        for name, (body, loc) in cases.items():
            response = await shop.orders.post(
                "/api/v1/orders", json=body, headers=token("mallory") | {"Idempotency-Key": name}
            )
            assert response.status_code == 422, (name, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            problem = response.json()
            assert any(error["loc"] == loc for error in problem["errors"]), (name, problem)
        not_json = await shop.orders.post(
            "/api/v1/orders",
            content=b"{not json",
            headers=token("mallory") | {"Content-Type": "application/json"},
        )
        assert not_json.status_code == 422
        long_key = await shop.place("mallory", [(product["id"], 1)], key="k" * 300)
        assert long_key.status_code == 400

        assert await _counts(stack.database_url) == before
        assert int(await redis.xlen(stream)) == stream_before
        assert await shop.stock(product["id"]) == 10
    finally:
        await redis.aclose()
    assert mail.mailbox.read() == []
