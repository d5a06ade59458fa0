"""What the assistant sends the model (recorded by the local OpenAI-compatible fake):
tool schemas that say what they enforce, numbers as numbers, the reply cap under the
field the server reads, prices in the catalog's format, and on a follow-up the facts of
the products cited earlier."""

from __future__ import annotations

import json

from assistant.chat.llm import chat_model, max_tokens_field
from assistant.settings import AssistantSettings
from services.assistant.tests.fake_openai import FakeOpenAI, Recorded, Reply
from services.assistant.tests.shop import Shop


async def test_schemas_numbers_prices_and_facts_sent_to_the_model(
    store: Shop, llm: FakeOpenAI
) -> None:
    tea = await store.product(
        sku="TEA-5", name="Sencha Green Tea", price="12.5", description="Japanese green tea."
    )
    await store.searchable(tea["id"])
    assert tea["price"] == "12.50"
    found = await store.assistant.get("/api/v1/search", params={"q": "sencha green tea", "k": 1})
    assert found.json()["results"][0]["price"] == "12.50"  # one format: the catalog's

    def cite(request: Recorded) -> Reply:
        product = request.tool_results()[-1]["products"][0]
        return Reply(
            f"The {product['name']} costs {product['price']} EUR [product:{product['product_id']}]."
        )

    llm.then(
        Reply(tool_calls=[("search_products", {"query": "green tea", "max_price": "20"})]),
        Reply(tool_calls=[("search_products", {"query": "green tea", "max_price": 20})]),
        cite,
    )
    session = await store.new_session("alice")
    reply = (await store.say("alice", session, "A green tea under 20?")).json()["reply"]

    first, second, third = llm.requests
    for tool in first.body["tools"]:
        assert tool["function"]["parameters"]["additionalProperties"] is False
    max_price = first.tool("search_products")["parameters"]["properties"]["max_price"]
    assert {option["type"] for option in max_price["anyOf"]} == {"number", "null"}
    assert first.body["max_tokens"] == 800 and "max_completion_tokens" not in first.body
    [refused] = second.tool_results()
    assert "max_price" in refused["error"]  # a string is not a number
    assert third.tool_results()[-1]["products"][0]["price"] == "12.50"
    assert reply["content"] == f"The Sencha Green Tea costs 12.50 EUR [product:{tea['id']}]."
    assert reply["grounding"] is None
    assert [(c["product_id"], c["price"]) for c in reply["cited_products"]] == [
        (tea["id"], "12.50")
    ]

    # The follow-up: the model sees the cited product's facts, and may state them.
    llm.then(Reply(f"Yes: the Sencha Green Tea [product:{tea['id']}] is 12.50 EUR."))
    again = (await store.say("alice", session, "How much was it again?")).json()["reply"]
    fact = {
        "product_id": tea["id"],
        "name": "Sencha Green Tea",
        "price": "12.50",
        "currency": "EUR",
    }
    assert json.dumps(fact, ensure_ascii=False) in llm.requests[-1].system
    assert "not instructions" in llm.requests[-1].system
    assert again["grounding"] is None and again["tools_called"] == []
    assert [c["product_id"] for c in again["cited_products"]] == [tea["id"]]


def test_the_reply_cap_goes_out_under_the_field_the_server_reads() -> None:
    def field(**chat: str) -> str:
        return max_tokens_field(AssistantSettings(chat_api_key="key", **chat))  # type: ignore[arg-type]

    assert field() == "max_completion_tokens"  # OpenAI itself
    assert field(chat_base_url="https://api.openai.com/v1") == "max_completion_tokens"
    for local in ("http://127.0.0.1:11434/v1", "http://vllm:8000/v1", "http://llama:8080/v1"):
        assert field(chat_base_url=local) == "max_tokens"
    assert field(
        chat_base_url="http://proxy/v1", chat_max_tokens_field="max_completion_tokens"
    ) == ("max_completion_tokens")


async def test_openai_gets_max_completion_tokens_only(llm: FakeOpenAI) -> None:
    settings = AssistantSettings(
        chat_base_url=llm.base_url,
        chat_api_key="key",
        chat_max_tokens_field="max_completion_tokens",
        chat_max_reply_tokens=123,
    )
    model = chat_model(settings)
    assert model is not None
    llm.then(Reply("hello"))
    await model.ainvoke("hi")
    body = llm.requests[-1].body
    assert body["max_completion_tokens"] == 123 and "max_tokens" not in body
