"""Recommendations beyond nearest neighbours, from real orders: bought together
(co-purchase counts of confirmed orders, uncounted on cancel) and popular (the
best-sellers view, refreshed when the scheduler's views-refresh job fires)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.assistant.tests.shop import Shop, bearer, shop
from tests.support.servers import wait_for


@pytest.fixture
async def store(clean_database, redis_url, stream_prefix, chroma_url) -> AsyncIterator[Shop]:
    async with shop(clean_database, redis_url, stream_prefix, chroma_url, chat_enabled=False) as s:
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


async def test_popular_comes_from_the_view_refreshed_by_the_scheduler(store: Shop) -> None:
    p = await products(store)
    await store.order("alice", [(p["OIL"], 5), (p["PAN"], 1)])
    last = await store.order("bob", [(p["OIL"], 1), (p["SALT"], 2)])
    await store.assistant_knows_order(last["id"], "confirmed")

    before = await recommend(store, strategy="popular", k=3)
    assert before["results"] == []  # the view is only as fresh as its last refresh

    run = await store.scheduler.post("/api/v1/admin/jobs/views-refresh/run", headers=store.admin)
    assert run.status_code == 202, run.text

    async def refreshed() -> list | None:
        results = (await recommend(store, strategy="popular", k=3))["results"]
        return results or None

    results = await wait_for(refreshed, within=60, what="best sellers after the refresh")
    assert [(r["product_id"], r["score"]) for r in results] == [
        (p["OIL"], 6.0),
        (p["SALT"], 2.0),
        (p["PAN"], 1.0),
    ]
    without_oil = await recommend(store, strategy="popular", k=3, product_id=p["OIL"])
    assert [r["product_id"] for r in without_oil["results"]] == [p["SALT"], p["PAN"]]


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
