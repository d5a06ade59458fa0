"""Readiness waits for the active index's embedder: the first chat after start-up
answers from the model, not degraded, within the default `CHAT_TIMEOUT_S`.

With the local MiniLM model (CI installs it; `make install-local-model`) the services
run as processes, as `make up` starts them: the assistant starts on an index the
indexer built with MiniLM, `/readyz` is awaited (as `make up` does), and the very first
request is a chat whose search tool embeds the query."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from marcus_search import AliasStore, local_model_available
from services.assistant.tests.fake_openai import FakeOpenAI, Reply, cite_first_product
from services.assistant.tests.shop import add_product, bearer, process_env
from tests.support.processes import ServiceProcess, stop_all
from tests.support.servers import wait_for


@pytest.mark.skipif(
    not local_model_available(),
    reason="local MiniLM not installed (`make install-local-model`; CI installs it)",
)
@pytest.mark.timeout(1800)
async def test_first_chat_after_start_answers_from_the_model_with_minilm(
    clean_database, redis_url, stream_prefix, chroma_url, llm: FakeOpenAI, tmp_path: Path
) -> None:
    env = process_env(
        clean_database,
        redis_url,
        stream_prefix,
        LOG_LEVEL="info",
        CHROMA_URL=chroma_url,
        EMBEDDER="minilm",
        CHAT_BASE_URL=llm.base_url,
        CHAT_API_KEY="test-key",
        CHAT_MODEL="fake-model",
    )
    env.pop("CHAT_TIMEOUT_S", None)  # the default deadline
    catalog, indexer, assistant = (
        ServiceProcess(name, env, tmp_path / f"{name}.log")
        for name in ("catalog", "indexer", "assistant")
    )
    redis = aioredis.from_url(redis_url)
    try:
        await catalog.start().ready(within=180)
        await indexer.start().ready(within=180)
        async with httpx.AsyncClient(base_url=catalog.url, timeout=60) as client:
            lamp = await add_product(
                client, sku="LMP-9", name="Green Bankers Lamp", price="59.00", stock=4
            )
        lamp_id = lamp["id"]
        alias = AliasStore(redis, stream_prefix)

        async def minilm_index() -> bool:
            active = await alias.read()
            return active is not None and active.name.kind == "minilm"

        await wait_for(minilm_index, within=600, what="a MiniLM index active")
        # Returns once /readyz answers 200, as `make up` waits. Loading torch and the model
        # takes ~10 s on a quiet machine, minutes on one busy with other test runs.
        await assistant.start().ready(within=900)
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

            llm.then(
                Reply(tool_calls=[("search_products", {"query": "green lamp"})]), cite_first_product
            )
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
        stop_all([assistant, indexer, catalog])
