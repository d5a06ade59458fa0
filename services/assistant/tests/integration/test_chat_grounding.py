"""Grounded replies, in JSON and in SSE mode, with a scripted model on the local
OpenAI-compatible fake: an invented id, an invented product, a wrong price, a real name
with a fake id and a reply with nothing grounded. What is stored, returned and streamed
never carries an ungrounded product or price, and the reply is marked."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from assistant.chat.fallback import UNGROUNDED
from services.assistant.tests.fake_openai import FakeOpenAI, Recorded, Reply
from services.assistant.tests.shop import Shop, read_events

FAKE = "9c6e4f0e-0000-4000-8000-00000000dead"


async def machine(s: Shop) -> dict[str, Any]:
    product = await s.product(
        sku="ESP-9",
        name="Lucca Dual-Boiler Espresso Machine",
        price="899",
        description="Dual boiler espresso machine with PID control. Brand: Caffè Ronda.",
    )
    await s.searchable(product["id"])
    return product


async def ask(s: Shop, session: str, content: str, sse: bool) -> tuple[dict[str, Any], str]:
    """(the reply as the API returned it, everything streamed, resets included)."""
    if not sse:
        response = await s.say("alice", session, content)
        assert response.status_code == 200, response.text
        reply = response.json()["reply"]
        return reply, reply["content"]
    async with s.stream("alice", session, content) as response:
        events = [item async for item in read_events(response)]
    names = [name for name, _ in events]
    assert names[0] == "start" and names[-1] == "done", names
    streamed = "".join(data["text"] for name, data in events if name == "delta")
    after = names.index("reset") + 1 if "reset" in names else 0
    shown = "".join(data["text"] for name, data in events[after:] if name == "delta")
    done = events[-1][1]
    assert done["content"] == shown  # what the customer is left reading is what is stored
    return done, streamed


def scripted(write: Callable[[dict[str, Any]], str]) -> list[Any]:
    """A model that looks the machine up, then writes `write(product)`."""

    def looked_up(request: Recorded) -> Reply:
        return Reply(write(request.tool_results()[-1]["product"]))

    return [looked_up]


def cite(p: dict[str, Any]) -> str:
    return f"The best match is {p['name']} for {p['price']} EUR [product:{p['product_id']}]."


CASES: dict[str, tuple[Callable[[dict[str, Any]], str], str]] = {
    "invented product": (
        lambda p: (
            cite(p) + f" Best pick: the Quantum Espresso 9000 [product:{FAKE}] for just 49.99 EUR."
        ),
        "corrected",
    ),
    "invented id": (lambda p: cite(p) + f" See also [product:{FAKE}].", "corrected"),
    "wrong price": (
        lambda p: (
            f"The Dual-Boiler Espresso Machine [product:{p['product_id']}] costs only 9.99 EUR."
        ),
        "corrected",
    ),
    "real name, fake id": (
        lambda p: f"The {p['name']} [product:{FAKE}] costs {p['price']} EUR.",
        "corrected",
    ),
    "nothing grounded": (
        lambda p: f"Best pick: the Quantum Espresso 9000 [product:{FAKE}] for just 49.99 EUR.",
        "replaced",
    ),
    "correct": (cite, ""),
}


@pytest.mark.parametrize("mode", ["json", "sse"])
async def test_ungrounded_text_never_reaches_the_customer(
    store: Shop, llm: FakeOpenAI, mode: str
) -> None:
    product = await machine(store)
    pid, name = product["id"], product["name"]
    expected = {
        "invented product": f"The best match is {name} for 899.00 EUR [product:{pid}].",
        "invented id": f"The best match is {name} for 899.00 EUR [product:{pid}].",
        "wrong price": f"The {name} [product:{pid}] costs only 899.00 EUR.",
        "real name, fake id": f"The {name} [product:{pid}] costs 899.00 EUR.",
        "correct": f"The best match is {name} for 899.00 EUR [product:{pid}].",
    }
    for case, (write, mark) in CASES.items():
        llm.then(Reply(tool_calls=[("get_product", {"product_id": pid})]), *scripted(write))
        session = await store.new_session("alice")
        reply, streamed = await ask(store, session, "Your best espresso machine?", mode == "sse")

        for ungrounded in ("Quantum", FAKE, "49.99", "9.99 EUR", "The Dual-Boiler"):
            assert ungrounded not in streamed, (case, streamed)
            assert ungrounded not in reply["content"], (case, reply["content"])
        assert reply["grounding"] == (mark or None), case
        assert reply["degraded"] is False, case
        assert pid in [c["product_id"] for c in reply["cited_products"]], case
        if mark == "replaced":
            assert reply["content"].startswith(UNGROUNDED), case
            assert f"{name}: 899.00 EUR (in stock) [product:{pid}]" in reply["content"]
        else:
            assert reply["content"] == expected[case], case
        stored = (await store.session("alice", session))["messages"][-1]
        assert stored == reply, case
        # The product's text is the catalog's, as written, and marked as data.
        looked_up = llm.requests[-1].tool_results()[-1]["product"]
        assert looked_up["name"] == "Lucca Dual-Boiler Espresso Machine"
        assert looked_up["description (untrusted catalog text)"] == product["description"]

    metrics = (await store.assistant.get("/metrics")).text
    for outcome in ("corrected", "replaced"):
        assert re.search(
            rf'^assistant_chat_grounding_total{{grounding="{outcome}"}} [1-9]', metrics, re.M
        )
    engine = create_async_engine(store.database_url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text("SELECT grounding, findings FROM assistant.reply_grounding")
                )
            ).all()
    finally:
        await engine.dispose()
    kinds = {finding["kind"] for _, findings in rows for finding in findings}
    assert {"unknown_product", "unknown_id", "wrong_name", "wrong_price"} <= kinds
    assert sorted(g for g, _ in rows) == ["corrected"] * 4 + ["replaced"]


@pytest.mark.parametrize("mode", ["json", "sse"])
async def test_invalid_tool_arguments_are_an_error_in_both_modes(
    store: Shop, llm: FakeOpenAI, mode: str
) -> None:
    """Truncated JSON: LangChain would repair it in a stream; both modes refuse it."""
    seen: list[Recorded] = []

    def after_error(request: Recorded) -> Reply:
        seen.append(request)
        return Reply("Sorry, let me know what you are looking for.")

    llm.then(Reply(tool_calls=[("search_products", '{"query": "espresso"')]), after_error)
    session = await store.new_session("alice")
    reply, _ = await ask(store, session, "espresso?", mode == "sse")
    [result] = seen[0].tool_results()
    assert "not valid JSON" in result["error"]
    assert reply["tools_called"] == ["search_products"]
    assert (
        await store.metric(
            'assistant_chat_tool_calls_total{outcome="error",tool="search_products"}'
        )
        >= 1
    )
    assert 'tool="unknown"' not in (await store.assistant.get("/metrics")).text
