"""Best sellers in real time, with services as processes (`python -m <service> serve`:
catalog, orders, indexer, assistant; a Chroma server): an order placed through the
orders API is in `popular` as soon as the assistant consumed its confirmation (polled,
no view refresh, no scheduler), per category too, and leaves it when cancelled."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from marcus_eventstore.migrations import upgrade
from services.orders.tests.stack import Shop, Stack, token, wait_read_model
from services.orders.tests.stack import truncate as truncate_saga
from tests.support.servers import wait_for


@dataclass
class Running:
    shop: Shop
    assistant: httpx.AsyncClient


@pytest.fixture
async def running(
    clean_database: str, redis_url: str, stream_prefix: str, chroma_url: str, tmp_path: Path
) -> AsyncIterator[Running]:
    upgrade("notifier", clean_database)  # the saga's tables are emptied with the notifier's
    await truncate_saga(clean_database)
    stack = Stack(clean_database, redis_url, stream_prefix, tmp_path)
    shared = {"CHROMA_URL": chroma_url, "INDEX_NAMESPACE": stream_prefix, "EMBEDDER": "hash"}
    try:
        for service in ("catalog", "orders", "indexer", "assistant"):
            stack.start(service, **shared)
        for process in stack.processes:
            await process.ready(within=180)
        shop = Shop(stack.first("catalog").url, stack.first("orders").url)
        async with httpx.AsyncClient(base_url=stack.first("assistant").url, timeout=30) as client:
            yield Running(shop, client)
        await shop.aclose()
    finally:
        stack.stop_all()


async def _popular(r: Running, **params: str) -> list[tuple[str, float]]:
    response = await r.assistant.get(
        "/api/v1/recommendations", params={"strategy": "popular", "k": 5, **params}
    )
    if response.status_code != 200:  # 503 until the indexer made its first collection
        return []
    return [(hit["product_id"], hit["score"]) for hit in response.json()["results"]]


async def test_a_confirmed_order_is_in_popular_as_soon_as_it_is_consumed(
    running: Running, clean_database: str
) -> None:
    lamp = await running.shop.product(sku="LAMP", price="25.00", stock=50, name="Desk lamp")
    mug = await running.shop.product(sku="MUG", price="9.00", stock=50, name="Travel mug")
    await wait_read_model(clean_database, lamp["id"], mug["id"], within=60)

    async def indexed() -> bool:
        for product in (lamp, mug):
            similar = await running.assistant.get(
                "/api/v1/recommendations", params={"product_id": product["id"], "k": 1}
            )
            if similar.status_code != 200:
                return False
        return True

    await wait_for(indexed, within=90, what="both products in the search index")
    assert await _popular(running) == []

    placed = await running.shop.place("ann", [(lamp["id"], 3), (mug["id"], 1)])
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]

    async def counted() -> list | None:
        return await _popular(running) or None

    # polled from the moment the order was placed: no refresh job runs anywhere here
    assert await wait_for(counted, within=60, what="the order in popular") == [
        (lamp["id"], 3.0),
        (mug["id"], 1.0),
    ]
    await running.shop.wait_status("ann", order_id, "confirmed")
    assert await _popular(running, category="c-mug") == [(mug["id"], 1.0)]

    cancelled = await running.shop.orders.post(
        f"/api/v1/orders/{order_id}/cancel", headers=token("ann")
    )
    assert cancelled.status_code == 200, cancelled.text

    async def uncounted() -> bool:
        return await _popular(running) == []

    await wait_for(uncounted, within=60, what="the cancelled order out of popular")
