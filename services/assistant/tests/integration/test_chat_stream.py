"""The reply as Server-Sent Events, read by a real HTTP client: deltas then the stored
reply; a client that hangs up mid-stream; a model that breaks off mid-stream."""

from __future__ import annotations

from typing import Any

from services.assistant.tests.fake_openai import FakeOpenAI, Recorded, Reply
from services.assistant.tests.shop import Shop, read_events
from tests.support.servers import wait_for


async def test_reply_streams_as_server_sent_events(store: Shop, llm: FakeOpenAI) -> None:
    lamp = await store.product(sku="LMP-1", name="Brass Desk Lamp", price="79.00")
    await store.searchable(lamp["id"])

    def answer(request: Recorded) -> Reply:
        product = request.tool_results()[0]["products"][0]
        return Reply(
            f"You could take the {product['name']} for {product['price']} EUR "
            f"[product:{product['product_id']}], it is lovely."
        )

    llm.then(Reply(tool_calls=[("search_products", {"query": "desk lamp"})]), answer)
    session = await store.new_session("alice")
    events: list[tuple[str, Any]] = []
    async with store.stream("alice", session, "a lamp for my desk?") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for item in read_events(response):
            events.append(item)

    names = [name for name, _ in events]
    assert names[0] == "start" and names[-1] == "done"
    assert names[1] == "tool" and events[1][1] == {"name": "search_products", "outcome": "ok"}
    deltas = [data["text"] for name, data in events if name == "delta"]
    assert len(deltas) > 3  # token by token, not one block
    done = events[-1][1]
    assert "".join(deltas) == done["content"]
    assert [c["product_id"] for c in done["cited_products"]] == [lamp["id"]]
    assert done["cited_products"][0]["price"] == "79.00"
    assert events[0][1]["question"]["content"] == "a lamp for my desk?"
    assert all(request.body["stream"] is True for request in llm.requests)
    stored = (await store.session("alice", session))["messages"]
    assert stored[-1] == done
    assert await store.metric('assistant_llm_call_seconds_count{streamed="true"}') >= 1


async def test_client_hanging_up_mid_stream_leaves_a_consistent_session(
    store: Shop, llm: FakeOpenAI
) -> None:
    # Whole sentences: text is released a checked sentence at a time (chat.grounding).
    words = [f"Sentence {n} of the story. " for n in range(60)]
    llm.then(Reply(chunks=words, chunk_delay=0.2))
    session = await store.new_session("alice")
    received: list[str] = []
    async with store.stream("alice", session, "tell me a long story") as response:
        async for name, data in read_events(response):
            if name == "delta":
                received.append(data["text"])
            if len(received) == 3:
                break  # leaving the block closes the connection

    async def stored_reply() -> dict | None:
        messages = (await store.session("alice", session))["messages"]
        return messages[1] if len(messages) == 2 else None

    reply = await wait_for(stored_reply, within=30, what="the interrupted reply stored")
    assert reply["status"] == "interrupted" and reply["degraded"] is False
    assert reply["content"].startswith("".join(received))
    assert len(reply["content"]) < len("".join(words))
    await wait_for(lambda: llm.abandoned == 1, within=30, what="the model's stream stopped")

    # The session goes on; the cut-off reply is not sent to the model as history.
    llm.then(Reply("A short one then."))
    follow_up = await store.say("alice", session, "shorter please")
    assert follow_up.status_code == 200, follow_up.text
    sent = [m["content"] for m in llm.requests[-1].messages if m["role"] != "system"]
    assert sent == ["tell me a long story", "shorter please"]
    roles = [(m["role"], m["status"]) for m in (await store.session("alice", session))["messages"]]
    assert roles == [
        ("user", "complete"),
        ("assistant", "interrupted"),
        ("user", "complete"),
        ("assistant", "complete"),
    ]


async def test_model_breaking_off_mid_stream_resets_to_a_search_answer(
    store: Shop, llm: FakeOpenAI
) -> None:
    lamp = await store.product(sku="LMP-2", name="Green Bankers Lamp", price="59.00")
    await store.searchable(lamp["id"])
    # The first sentence is complete (released) when the model breaks off in the second.
    llm.then(
        Reply("Hello there. I would suggest the lovely green lamp because", break_after_chunks=4)
    )
    session = await store.new_session("alice")
    async with store.stream("alice", session, "green lamp") as response:
        events = [item async for item in read_events(response)]
    names = [name for name, _ in events]
    reset = names.index("reset")
    assert names[0] == "start" and names[-1] == "done"
    assert "delta" in names[:reset] and "delta" in names[reset:]
    after = "".join(data["text"] for name, data in events[reset:] if name == "delta")
    done = events[-1][1]
    assert done["degraded"] is True and done["content"] == after
    assert events[reset][1]["degraded_reason"] == done["degraded_reason"]
    assert "Green Bankers Lamp: 59.00 EUR" in done["content"]
    assert lamp["id"] in {c["product_id"] for c in done["cited_products"]}
