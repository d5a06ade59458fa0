"""Readiness waits for the active index's embedder (with MiniLM, as processes:
e2e/test_first_chat_minilm.py)."""

from __future__ import annotations

from services.assistant.tests.shop import Shop
from tests.support.servers import wait_for


async def test_readiness_reports_the_embedder(store: Shop) -> None:
    async def warmed() -> bool:
        response = await store.assistant.get("/readyz")
        return response.status_code == 200 and response.json()["checks"]["embedder"] == "ok"

    await wait_for(warmed, within=60, what="ready before any product (nothing to load)")
    product = await store.product(sku="LMP-7", name="Brass Desk Lamp", price="79.00")
    await store.searchable(product["id"])
    await wait_for(warmed, within=60, what="the active index's embedder warmed")
