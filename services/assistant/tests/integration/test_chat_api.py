"""Chat sessions over HTTP: ownership, bad input, and answers without a working model
(none configured, server down, failing, too slow, or never answering)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from services.assistant.tests.fake_openai import FakeOpenAI, Reply
from services.assistant.tests.shop import OpenShop, Shop, bearer
from tests.support.servers import free_port, wait_for


@pytest.fixture
async def store(open_shop: OpenShop, llm: FakeOpenAI) -> AsyncIterator[Shop]:
    """Messages of 500 characters at most, 4 messages a session."""
    async with open_shop(
        chat_base_url=llm.base_url,
        chat_max_message_chars=500,
        chat_max_messages_per_session=4,
    ) as s:
        yield s


async def tents(s: Shop) -> dict[str, dict]:
    products = [
        await s.product(sku="TNT-1", name="Alpine Two-Person Tent", price="249.00", stock=3),
        await s.product(sku="TNT-2", name="Ultralight Trekking Tent", price="399.90", stock=0),
        await s.product(sku="MUG-1", name="Enamel Camping Mug", price="9.50"),
    ]
    await s.searchable(*(p["id"] for p in products))
    return {p["sku"]: p for p in products}


async def ask_for_a_tent(s: Shop) -> dict[str, Any]:
    """Alice asks a new session for a tent: the reply (200)."""
    session = await s.new_session("alice")
    response = await s.say("alice", session, "I need a tent for two")
    assert response.status_code == 200, response.text
    return dict(response.json()["reply"])


async def test_sessions_belong_to_their_customer(store: Shop) -> None:
    created = await store.assistant.post(
        "/api/v1/chat/sessions", json={"title": "tents"}, headers=bearer("alice")
    )
    assert created.status_code == 201, created.text
    session = created.json()
    assert created.headers["location"] == f"/api/v1/chat/sessions/{session['id']}"
    assert session["title"] == "tents" and session["messages"] == []
    url = f"/api/v1/chat/sessions/{session['id']}"
    assert (await store.assistant.get(url, headers=bearer("alice"))).status_code == 200
    for response in (
        await store.assistant.get(url, headers=bearer("bob")),
        await store.assistant.get(
            "/api/v1/chat/sessions/0c6e4f0e-0000-4000-8000-000000000000", headers=bearer("alice")
        ),
        await store.say("bob", session["id"], "hello"),
    ):
        assert response.status_code == 404, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (await store.assistant.get(url)).status_code == 401
    assert (await store.assistant.post("/api/v1/chat/sessions")).status_code == 401
    bad_id = await store.assistant.get("/api/v1/chat/sessions/not-a-uuid", headers=bearer("alice"))
    assert bad_id.status_code == 422


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"content": ""}, "content"),
        ({"content": "   \n\t "}, "content"),
        ({"content": "x" * 501}, "content"),
        ({}, "content"),
        ({"content": 42}, "content"),
        ({"content": "hi", "customer": "bob"}, "customer"),
    ],
)
async def test_bad_messages_are_422_and_change_nothing(
    store: Shop, llm: FakeOpenAI, body: dict, field: str
) -> None:
    session = await store.new_session("alice")
    response = await store.assistant.post(
        f"/api/v1/chat/sessions/{session}/messages", json=body, headers=bearer("alice")
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in {error["loc"][-1] for error in response.json()["errors"]}
    assert (await store.session("alice", session))["messages"] == []
    assert llm.requests == []


async def test_unknown_session_and_a_full_session(store: Shop, llm: FakeOpenAI) -> None:
    unknown = await store.say("alice", "0c6e4f0e-0000-4000-8000-000000000000", "hello")
    assert unknown.status_code == 404
    session = await store.new_session("alice")
    llm.then(Reply("Hello!"), Reply("Hi again!"))
    for text in ("hello", "hello again"):
        assert (await store.say("alice", session, text)).status_code == 200
    full = await store.say("alice", session, "one more")
    assert full.status_code == 409, full.text
    assert "start a new session" in full.json()["detail"]
    assert len((await store.session("alice", session))["messages"]) == 4


async def assert_search_answer(
    s: Shop, catalog: dict[str, dict], reply: dict, reason: str, tools: tuple[str, ...] = ()
) -> None:
    assert reply["degraded"] is True and reply["degraded_reason"] == reason
    assert reply["status"] == "complete" and reply["tools_called"] == list(tools)
    tent = catalog["TNT-1"]
    cited = {c["product_id"]: c for c in reply["cited_products"]}
    assert tent["id"] in cited
    assert Decimal(cited[tent["id"]]["price"]) == Decimal(tent["price"])
    assert f"{tent['name']}: {tent['price']} EUR (in stock)" in reply["content"]
    assert "search alone" in reply["content"]
    assert await s.metric(f'assistant_chat_degraded_total{{reason="{reason}"}}') >= 1


async def test_no_model_configured_answers_from_search(
    open_shop: OpenShop,
) -> None:
    async with open_shop(chat_enabled=False) as s:
        catalog = await tents(s)
        reply = await ask_for_a_tent(s)
        await assert_search_answer(s, catalog, reply, "llm_not_configured")


async def test_model_server_down_answers_from_search(
    open_shop: OpenShop,
) -> None:
    nothing = f"http://127.0.0.1:{free_port()}/v1"
    async with open_shop(chat_base_url=nothing) as s:
        catalog = await tents(s)
        reply = await ask_for_a_tent(s)
        await assert_search_answer(s, catalog, reply, "llm_unavailable")
        assert await s.metric('assistant_llm_calls_total{outcome="unavailable"}') >= 1


async def test_model_server_errors_are_retried_once_then_answered_from_search(
    store: Shop, llm: FakeOpenAI
) -> None:
    catalog = await tents(store)
    llm.then(Reply(status=500), Reply(status=503))
    await assert_search_answer(store, catalog, await ask_for_a_tent(store), "llm_unavailable")
    assert len(llm.requests) == 2


async def test_slow_model_is_abandoned_at_the_deadline(
    open_shop: OpenShop, llm: FakeOpenAI
) -> None:
    async with open_shop(chat_base_url=llm.base_url, chat_timeout_s=1.0, chat_max_retries=0) as s:
        catalog = await tents(s)
        llm.then(Reply("far too late", pause=120))
        await assert_search_answer(s, catalog, await ask_for_a_tent(s), "llm_timeout")
        # The reply came while the model was still "thinking": the assistant stopped
        # waiting (and hung up) instead of waiting the 120 s out.
        assert llm.completed == 0
        await wait_for(lambda: llm.abandoned == 1, within=30, what="the model call abandoned")


async def test_a_model_that_only_calls_tools_is_cut_off(
    open_shop: OpenShop, llm: FakeOpenAI
) -> None:
    async with open_shop(chat_base_url=llm.base_url, chat_max_steps=2) as s:
        catalog = await tents(s)
        search = Reply(tool_calls=[("search_products", {"query": "tent"})])
        llm.then(search, search)  # ignores tool_choice=none on its last call
        ran_before = await _search_calls_ran(s)
        reply = await ask_for_a_tent(s)
        assert llm.requests[0].body.get("tool_choice") in (None, "auto")
        assert llm.requests[1].body["tool_choice"] == "none"
        # The last step's tool call did not run; the customer reads what the first found,
        # said to be that (not "the AI model failed").
        assert reply["tools_called"] == ["search_products"]
        assert reply["degraded"] is False and reply["grounding"] is None
        assert reply["content"].startswith("I could not finish looking into this within 2 steps")
        assert "failed" not in reply["content"]
        tent = catalog["TNT-1"]
        assert f"{tent['name']}: {tent['price']} EUR [product:{tent['id']}]" in reply["content"]
        assert tent["id"] in {c["product_id"] for c in reply["cited_products"]}
        # one search ran (the counter is the process's: other tests' calls count too)
        assert await _search_calls_ran(s) - ran_before == 1.0


async def _search_calls_ran(s: Shop) -> float:
    return await s.metric('assistant_chat_tool_calls_total{outcome="ok",tool="search_products"}')


async def test_a_model_that_never_finds_anything_is_cut_off_with_a_search_answer(
    open_shop: OpenShop, llm: FakeOpenAI
) -> None:
    async with open_shop(chat_base_url=llm.base_url, chat_max_steps=2) as s:
        catalog = await tents(s)
        orders = Reply(tool_calls=[("my_orders", {})])
        llm.then(orders, orders)
        reply = await ask_for_a_tent(s)
        await assert_search_answer(s, catalog, reply, "llm_error", ("my_orders",))
        assert reply["content"].startswith("The AI model did not finish its answer within 2")
