"""Readiness waits for the active index's embedder: the first chat after start-up
answers from the model, not degraded, within the default `CHAT_TIMEOUT_S`.

With the local MiniLM model (CI installs it; `make install-local-model`) the services
run as processes, as `make up` starts them: the assistant starts on an index the
indexer built with MiniLM, `/readyz` is awaited (as `make up` does), and the very first
request is a chat whose search tool embeds the query."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from marcus_search import AliasStore, local_model_available
from services.assistant.tests.fake_openai import FakeOpenAI, Recorded, Reply
from services.assistant.tests.shop import Shop, bearer, shop
from services.assistant.tests.test_chat_processes import Service
from tests.support.servers import wait_for
from tests.support.stack import SECRET, admin_headers


@pytest.fixture
async def store(clean_database, redis_url, stream_prefix, chroma_url, llm) -> AsyncIterator[Shop]:
    async with shop(
        clean_database, redis_url, stream_prefix, chroma_url, chat_base_url=llm.base_url
    ) as s:
        yield s


async def test_readiness_reports_the_embedder(store: Shop) -> None:
    async def warmed() -> bool:
        response = await store.assistant.get("/readyz")
        return response.status_code == 200 and response.json()["checks"]["embedder"] == "ok"

    await wait_for(warmed, within=60, what="ready before any product (nothing to load)")
    product = await store.product(sku="LMP-7", name="Brass Desk Lamp", price="79.00")
    await store.searchable(product["id"])
    await wait_for(warmed, within=60, what="the active index's embedder warmed")


@pytest.mark.skipif(
    not local_model_available(),
    reason="local MiniLM not installed (`make install-local-model`; CI installs it)",
)
@pytest.mark.timeout(1800)
async def test_first_chat_after_start_answers_from_the_model_with_minilm(
    clean_database, redis_url, stream_prefix, chroma_url, llm: FakeOpenAI, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": clean_database,
        "REDIS_URL": redis_url,
        "STREAM_PREFIX": stream_prefix,
        "JWT_SECRET": SECRET,
        "LOG_LEVEL": "info",
        "RELAY_POLL_INTERVAL": "0.2",
        "CHROMA_URL": chroma_url,
        "INDEX_NAMESPACE": stream_prefix,
        "EMBEDDER": "minilm",
        "CHAT_BASE_URL": llm.base_url,
        "CHAT_API_KEY": "test-key",
        "CHAT_MODEL": "fake-model",
    }
    env.pop("OPENAI_API_KEY", None)
    env.pop("CHAT_TIMEOUT_S", None)  # the default deadline
    catalog, indexer, assistant = (
        Service(name, env, tmp_path / f"{name}.log") for name in ("catalog", "indexer", "assistant")
    )
    redis = aioredis.from_url(redis_url)
    try:
        await catalog.start()
        await indexer.start()
        async with httpx.AsyncClient(base_url=catalog.url, timeout=60) as client:
            category = await client.post(
                "/api/v1/categories",
                json={"slug": "lamps", "name": "Lamps"},
                headers=admin_headers(),
            )
            lamp = await client.post(
                "/api/v1/products",
                json={
                    "sku": "LMP-9",
                    "name": "Green Bankers Lamp",
                    "price": "59.00",
                    "currency": "EUR",
                    "category_id": category.json()["id"],
                    "stock": 4,
                },
                headers=admin_headers(),
            )
            assert lamp.status_code == 201, lamp.text
        lamp_id = lamp.json()["id"]
        alias = AliasStore(redis, stream_prefix)

        async def minilm_index() -> bool:
            active = await alias.read()
            return active is not None and active.name.kind == "minilm"

        await wait_for(minilm_index, within=600, what="a MiniLM index active")
        # Returns once /readyz answers 200, as `make up` waits. Loading torch and the model
        # takes ~10 s on a quiet machine, minutes on one busy with other test runs.
        await assistant.start(within=900)
        async with httpx.AsyncClient(base_url=assistant.url, timeout=120) as client:
            ready = (await client.get("/readyz")).json()
            assert ready["checks"]["embedder"] == "ok"
            # Ready means loaded: the model was loaded before any request needed it.
            assert "embedder minilm-l6-v2 loaded in" in assistant.log.read_text()

            async def indexed() -> bool:  # by id: no query is embedded
                response = await client.get(
                    "/api/v1/recommendations", params={"product_id": lamp_id, "k": 1}
                )
                return response.status_code == 200

            await wait_for(indexed, within=300, what="the lamp indexed")

            def cite(request: Recorded) -> Reply:
                found = request.tool_results()[0]["products"][0]
                return Reply(
                    f"The {found['name']} costs {found['price']} EUR "
                    f"[product:{found['product_id']}]."
                )

            llm.then(Reply(tool_calls=[("search_products", {"query": "green lamp"})]), cite)
            alice = bearer("alice")
            session = (await client.post("/api/v1/chat/sessions", headers=alice)).json()["id"]
            response = await client.post(
                f"/api/v1/chat/sessions/{session}/messages",
                json={"content": "a green desk lamp?"},
                headers=alice,
            )
            assert response.status_code == 200, response.text
            reply = response.json()["reply"]
            assert reply["degraded"] is False, reply
            assert [c["product_id"] for c in reply["cited_products"]] == [lamp_id]
    finally:
        await redis.aclose()
        for service in (assistant, indexer, catalog):
            service.stop()
