"""Issue 19 finding 10, order e-mails go to any address the customer types: an order's
e-mails go to the token's verified `email` claim; another address is refused (422)
unless the orders service is configured to allow it (ALLOW_OTHER_EMAIL)."""

from __future__ import annotations

import httpx

from services.orders.tests.e2e.test_cart_api import customer
from services.orders.tests.stack import Shop, Stack, wait_read_model


async def test_order_emails_go_to_the_tokens_verified_address(stack: Stack, shop: Shop) -> None:
    bell = await shop.product(sku="MAIL-1", price="2.00", stock=10)
    await wait_read_model(stack.database_url, bell["id"])
    lines = [{"product_id": bell["id"], "quantity": 1}]
    alice = customer("alice", "alice@example.com")

    defaulted = await shop.orders.post("/api/v1/orders", json={"lines": lines}, headers=alice)
    assert defaulted.status_code == 201, defaulted.text
    assert defaulted.json()["email"] == "alice@example.com"
    same = {"lines": lines, "email": "ALICE@example.com"}
    assert (await shop.orders.post("/api/v1/orders", json=same, headers=alice)).status_code == 201

    other = {"lines": lines, "email": "mallory@example.com"}
    refused = await shop.orders.post("/api/v1/orders", json=other, headers=alice)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"][0]["loc"] == ["body", "email"]

    allowing = stack.start("orders", ALLOW_OTHER_EMAIL="true")
    await allowing.ready()
    async with httpx.AsyncClient(base_url=allowing.url, timeout=30) as client:
        gift = await client.post("/api/v1/orders", json=other, headers=alice)
    assert gift.status_code == 201, gift.text
    assert gift.json()["email"] == "mallory@example.com"
