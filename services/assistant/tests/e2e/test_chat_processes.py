"""End to end with services as processes (`python -m <service> serve`): catalog,
indexer and assistant, a Chroma server and the local OpenAI-compatible fake. The
assistant is SIGKILLed in the middle of a streamed reply and restarted: the stored
session stays consistent, the conversation goes on, and the projections rebuilt from
the event table are the same."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.assistant.tests.fake_openai import FakeOpenAI, Reply, cite_first_product
from services.assistant.tests.shop import (
    add_product,
    bearer,
    process_env,
    read_events,
    rebuild_projections,
)
from tests.support.processes import ServiceProcess, stop_all
from tests.support.servers import wait_for

pytestmark = pytest.mark.fault


@pytest.fixture
async def services(
    clean_database, redis_url, stream_prefix, chroma_url, llm: FakeOpenAI, tmp_path: Path
) -> AsyncIterator[dict[str, ServiceProcess]]:
    env = process_env(
        clean_database,
        redis_url,
        stream_prefix,
        CHROMA_URL=chroma_url,
        CHAT_BASE_URL=llm.base_url,
        CHAT_API_KEY="test-key",
        CHAT_MODEL="fake-model",
        CHAT_TIMEOUT_S="120",  # a slow machine must not turn the model's reply degraded
    )
    running = {
        name: ServiceProcess(name, env, tmp_path / f"{name}.log")
        for name in ("catalog", "indexer", "assistant")
    }
    try:
        for service in running.values():
            await service.start().ready(within=180)
        yield running
    finally:
        stop_all(list(running.values()))


# Four service starts, a restart and a replay: minutes on a machine shared with a full
# suite, more than the default per-test limit.
@pytest.mark.timeout(900)
async def test_sigkill_mid_stream_then_restart(
    services: dict[str, ServiceProcess], llm: FakeOpenAI
) -> None:
    # Generous bounds: under a full suite on a busy machine, replies are slow, not wrong.
    catalog = httpx.AsyncClient(base_url=services["catalog"].url, timeout=120)
    assistant = httpx.AsyncClient(base_url=services["assistant"].url, timeout=120)
    alice = bearer("alice")
    try:
        bike = await add_product(
            catalog, sku="BIK-1", name="Gravel Bike Aurora", price="1299.00", stock=4
        )
        bike_id = bike["id"]

        async def searchable() -> bool:
            response = await assistant.get("/api/v1/search", params={"q": "gravel bike", "k": 1})
            hits = response.json().get("results", []) if response.status_code == 200 else []
            return any(hit["product_id"] == bike_id for hit in hits)

        await wait_for(searchable, within=180, what="the bike searchable")

        session = (await assistant.post("/api/v1/chat/sessions", headers=alice)).json()["id"]
        messages_url = f"/api/v1/chat/sessions/{session}/messages"
        sse = alice | {"Accept": "text/event-stream"}

        # 1. A streamed reply through the real processes.
        llm.then(
            Reply(tool_calls=[("search_products", {"query": "gravel bike"})]), cite_first_product
        )
        async with assistant.stream(
            "POST", messages_url, json={"content": "a gravel bike?"}, headers=sse
        ) as response:
            events = [item async for item in read_events(response)]
        done = events[-1]
        assert done[0] == "done" and [c["product_id"] for c in done[1]["cited_products"]] == [
            bike_id
        ]

        # 2. SIGKILL in the middle of the next streamed reply. The model sends three
        # chunks and then holds the stream open until its client goes away, so the reply
        # is still being written when the kill comes, however slow the machine is; the
        # kill follows the first delta the client saw.
        llm.then(Reply(chunks=["part0 ", "part1 ", "part2 ", "never sent"], hold_after_chunks=3))
        seen: list[str] = []
        with pytest.raises(httpx.HTTPError):
            async with assistant.stream(
                "POST", messages_url, json={"content": "tell me more"}, headers=sse
            ) as response:
                async for name, _ in read_events(response):
                    seen.append(name)
                    if name == "delta" and seen.count("delta") == 1:
                        services["assistant"].kill()
        assert seen[0] == "start" and "delta" in seen, seen
        assert not {"done", "error", "reset"} & set(seen), seen
        # The model saw its client vanish mid-reply: the kill came while it was writing.
        await wait_for(lambda: llm.abandoned == 1, within=60, what="the model stream abandoned")
        assert llm.completed == 2  # the tool call and the cited reply; never the held one
        await services["assistant"].start().ready(within=180)

        # The question is stored, its reply never was: nothing half-written.
        view = (await assistant.get(f"/api/v1/chat/sessions/{session}", headers=alice)).json()
        assert [(m["role"], m["content"][:12]) for m in view["messages"]] == [
            ("user", "a gravel bik"),
            ("assistant", done[1]["content"][:12]),
            ("user", "tell me more"),
        ]

        # 3. The conversation goes on after the restart, with the history it has.
        llm.then(Reply("Happy to help again."))
        again = await assistant.post(messages_url, json={"content": "still there?"}, headers=alice)
        assert again.status_code == 200, again.text
        sent = [m["content"] for m in llm.requests[-1].messages if m["role"] != "system"]
        assert sent[0] == "a gravel bike?" and sent[-2:] == ["tell me more", "still there?"]

        # 4. Rebuilt from the event table, the session reads the same.
        before = (await assistant.get(f"/api/v1/chat/sessions/{session}", headers=alice)).json()
        rebuild_projections(dict(services["assistant"].env))
        after = (await assistant.get(f"/api/v1/chat/sessions/{session}", headers=alice)).json()
        assert json.dumps(after, sort_keys=True) == json.dumps(before, sort_keys=True)
        assert len(after["messages"]) == 5
    finally:
        await catalog.aclose()
        await assistant.aclose()
