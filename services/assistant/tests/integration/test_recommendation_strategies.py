"""Recommendations beyond nearest neighbours, from real orders: bought together
(co-purchase counts of confirmed orders, uncounted on cancel, counted once through
shipping and delivery) and popular (units sold, added as each order is confirmed and
taken back when it is cancelled, per category too)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.assistant.tests.shop import OpenShop, Shop, bearer
from tests.support.servers import wait_for


@pytest.fixture
async def store(open_shop: OpenShop) -> AsyncIterator[Shop]:
    async with open_shop(chat_enabled=False) as s:
        yield s


async def products(s: Shop) -> dict[str, str]:
    made = {
        sku: (await s.product(sku=sku, name=f"Product {sku}", price=price, stock=100))["id"]
        for sku, price in (("PAN", "39.00"), ("LID", "12.00"), ("OIL", "8.50"), ("SALT", "3.20"))
    }
    await s.searchable(*made.values())
    await s.orderable(*made.values())
    return made


async def recommend(s: Shop, **params: str | int) -> dict:
    response = await s.assistant.get("/api/v1/recommendations", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_bought_together_counts_confirmed_orders_and_forgets_cancelled(store: Shop) -> None:
    p = await products(store)
    await store.order("alice", [(p["PAN"], 1), (p["LID"], 1), (p["OIL"], 2)])
    await store.order("bob", [(p["PAN"], 1), (p["LID"], 1)])
    last = await store.order("carol", [(p["PAN"], 1), (p["SALT"], 1)])
    await store.assistant_knows_order(last["id"], "confirmed")

    async def together(product: str) -> list[tuple[str, float]]:
        body = await recommend(store, product_id=product, strategy="bought_together", k=5)
        assert body["strategy"] == "bought_together"
        return [(hit["product_id"], hit["score"]) for hit in body["results"]]

    assert await together(p["PAN"]) == sorted(
        [(p["LID"], 2.0), (p["OIL"], 1.0), (p["SALT"], 1.0)], key=lambda x: (-x[1], x[0])
    )
    assert await together(p["SALT"]) == [(p["PAN"], 1.0)]
    first = (await recommend(store, product_id=p["PAN"], strategy="bought_together", k=1))[
        "results"
    ]
    assert first[0]["name"] == "Product LID" and first[0]["price"] == "12.00"

    cancelled = await store.orders.post(
        f"/api/v1/orders/{last['id']}/cancel", headers=bearer("carol")
    )
    assert cancelled.status_code == 200, cancelled.text
    await store.assistant_knows_order(last["id"], "cancelled")
    assert await together(p["SALT"]) == []
    assert (p["SALT"], 1.0) not in await together(p["PAN"])


async def test_popular_follows_confirmed_and_cancelled_orders_live(store: Shop) -> None:
    """No view refresh: each confirmation adds its units, a cancellation takes them back."""
    p = await products(store)

    async def popular(**params: str | int) -> list[tuple[str, float]]:
        body = await recommend(store, strategy="popular", k=3, **params)
        return [(r["product_id"], r["score"]) for r in body["results"]]

    first = await store.order("alice", [(p["OIL"], 5), (p["PAN"], 1)])

    async def counted_first() -> list | None:
        return await popular() or None

    # polled until the consumer has the confirmation: no scheduler job runs in this test
    assert await wait_for(counted_first, within=60, what="popular after the first order") == [
        (p["OIL"], 5.0),
        (p["PAN"], 1.0),
    ]
    assert first["id"]
    last = await store.order("bob", [(p["OIL"], 1), (p["SALT"], 2)])
    await store.assistant_knows_order(last["id"], "confirmed")
    assert await popular() == [(p["OIL"], 6.0), (p["SALT"], 2.0), (p["PAN"], 1.0)]
    assert [pid for pid, _ in await popular(product_id=p["OIL"])] == [p["SALT"], p["PAN"]]

    salt = (await recommend(store, strategy="popular", k=3))["results"][1]
    by_category = await recommend(store, strategy="popular", k=3, category=salt["category"])
    assert by_category["category"] == salt["category"]
    assert [(r["product_id"], r["score"]) for r in by_category["results"]] == [(p["SALT"], 2.0)]

    cancelled = await store.orders.post(
        f"/api/v1/orders/{last['id']}/cancel", headers=bearer("bob")
    )
    assert cancelled.status_code == 200, cancelled.text
    await store.assistant_knows_order(last["id"], "cancelled")
    assert await popular() == [(p["OIL"], 5.0), (p["PAN"], 1.0)]


async def test_shipped_and_delivered_orders_are_kept_and_counted_once(store: Shop) -> None:
    """`shipped` and `delivered` imply the confirmation: the customer's order takes each
    status, and its purchases count once."""
    p = await products(store)
    order = await store.order("alice", [(p["PAN"], 1), (p["LID"], 1)])
    for step in ("ship", "deliver"):
        moved = await store.orders.post(f"/api/v1/orders/{order['id']}/{step}", headers=store.admin)
        assert moved.status_code == 200, moved.text
    await store.assistant_knows_order(order["id"], "delivered")
    body = await recommend(store, product_id=p["PAN"], strategy="bought_together", k=5)
    assert [(hit["product_id"], hit["score"]) for hit in body["results"]] == [(p["LID"], 1.0)]


async def test_strategy_input_errors(store: Shop) -> None:
    for params in (
        {"strategy": "bought_together"},
        {"strategy": "similar"},
        {"strategy": "psychic", "product_id": "0c6e4f0e-0000-4000-8000-000000000000"},
        {"strategy": "popular", "k": 0},
    ):
        response = await store.assistant.get("/api/v1/recommendations", params=params)
        assert response.status_code == 422, (params, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
